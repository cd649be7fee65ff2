"""The GraphQL engine: how a request runs, not what it is about.

Lean execution (`execution`), compiled completion plans (`compiled`), look-ahead selection and
prefetch (`selection`), cost limits (`cost`), request guards (`extensions`), permission
machinery (`permissions`), nodes and global ids (`node`, `fields`), keyset pagination
(`keyset`, `cursors`), the per-request context (`context`) and DataLoader plumbing (`loading`).

A domain author uses what these modules export (`fields.relation`, `permissions.org_of`,
`keyset.paginate`...) and does not change them: a change here changes every field's cost,
speed or safety. The fast path's rules are in `engine/compiled.py`.
"""
