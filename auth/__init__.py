"""Authentication and authorization: who is asking (`viewer`, `authenticate`), their
credentials (passwords, session tokens, API tokens, OAuth access tokens in `oauth_credentials`),
cookies, what roles and scopes grant (`permissions`), the request's access control (`access`,
the one way requests read tenant rows), the sign-in rate limits, and the public lead forms' bot
defences (`form_defences`: is it a person or a bot?).

Layer: below the engine and the domains; imports only `loaders`' plumbing (`core.loading`),
`database`, `models` and `core`.
"""
