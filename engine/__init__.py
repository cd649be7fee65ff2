"""The GraphQL engine: how a request runs, not what it is about.

- `execution`: the lean executor (plain and loader-backed fields without Strawberry's
  per-field wrapper); `plans`: which fields it may complete itself; `compiled`: completion
  plans of whole subtrees, built once per execution;
- `selection`: look-ahead, what a connection's caller selected below its nodes;
- `fields`: what a domain's types are built from (`ModelNode`, `Connection`, `relation`,
  `decode_id`, `Info`); `node`: `node(id:)`; `keyset`: keyset pagination;
- `cost`: query cost and budgets; `extensions`: request guards (CSRF, NUL bytes, literal
  inputs, error codes, one connection per query);
- `permissions`: `requires(HasPermission(...))` and the org locators, checked when the schema
  is built;
- `context`: the per-request `Context`.

A domain author uses what these modules export and does not change them: a change here changes
every field's cost, speed or safety. The fast path's rules (a planned resolver is a read that
may run twice; it never reads `info.path`) are in `compiled`'s docstring, and
`tests/test_fast_path_rules.py` walks the schema to enforce them.

Layer: below the domains (`schema`, `jobs`, `resolvers`, `billing`, `oauth`), above `services`,
`loaders`, `auth` and everything under them. It never imports a domain: what it needs from one
(the plain lists' bounds, the budgets' pricing) is handed to it by the schema or the
composition root.
"""
