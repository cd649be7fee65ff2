"""Live events: the broker that carries committed changes between server processes
(`broker.py`), what is published for each change (`events.py`), and publishing only after the
transaction commits (`outbox.py`). Subscriptions themselves are in `schema/realtime.py` and
`resolvers/realtime.py`; the WebSocket protocol in `web/graphql_ws.py`.

Layer: beside `mail` and `storage`, above `models` and `core` only.
"""
