"""The HTTP surface around the schema: the GraphQL view and its WebSocket protocol,
middleware, GraphiQL, the public lead form pages (`forms`), the Stripe webhook and plain routes.

Layer: the top (only `server.py`, the composition root, is above it).
"""
