"""Tortoise models (tables only), one module per domain; `migrations/` holds the committed
schema history. `tenancy.TenantModel` is the base of org-owned tables.

Layer: above `database` (tenant scopes read through its row builder) and `core`. A domain
author adds tables here; how rows are read fast lives in
`database/`.
"""
