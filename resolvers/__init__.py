"""The logic behind the fields, one module per domain (the same names as `schema/`).

Resolvers take the request's `Context`, check and change rows (tenant rows only through
`ctx.access.scoped`), record activity, and return models or plain data; they never import
`schema/`. Background jobs (`jobs/`) call into them; they never import `jobs/`.

Layer: below `schema` and `jobs`, above `billing`, `oauth`, the engine and everything under
them.
"""
