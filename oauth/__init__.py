"""OAuth 2 for partner apps: authlib's authorization server behind a thin Starlette adapter.

- the shape of client ids, client secrets, codes and tokens is `auth/oauth_credentials.py`
  (signing in with a token is authentication);
- `starlette.py`: an authlib `OAuth2Request` from a Starlette request, and the way back;
- `server.py`: the authorization server (authorization code + PKCE S256, rotating refresh
  tokens, RFC 7009 revocation), run on data loaded before it and writing after it;
- `routes.py`: `/oauth/authorize`, `/oauth/token`, `/oauth/revoke` and the RFC 8414 metadata.

docs/oauth.md describes the flow as a partner sees it.

Layer: beside `billing`, below `resolvers`, above the engine and everything under it.
"""
