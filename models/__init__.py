"""Tortoise models, one module per domain; `migrations/` holds the committed schema history."""
