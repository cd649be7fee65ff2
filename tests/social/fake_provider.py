"""A fake Google and GitHub for social sign-in tests: a small Starlette app that speaks their wire
formats, served by uvicorn on 127.0.0.1 so the app's real authlib client reaches it over HTTP.

Google-like (OpenID Connect): `/.well-known/openid-configuration`, `/authorize` (approves at
once and redirects back with `code` and `state`), `/token` (checks the client's credentials, the
redirect URI and the PKCE verifier, and issues an id token signed with an RSA key), `/userinfo`
and `/jwks`. GitHub-like: `/login/oauth/authorize`, `/login/oauth/access_token`, `/api/user` and
`/api/user/emails`.

A test sets who signs in (`google_user`, `github_user`) and how the provider misbehaves
(`deny`, `tamper`), then drives the browser side itself.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import uvicorn
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.smtp import free_port

CLIENT_ID = "relleks-test-client"
CLIENT_SECRET = "relleks-test-secret"
KEY_ID = "fake-key-1"


@dataclass
class Grant:
    provider: str
    redirect_uri: str
    code_challenge: str | None
    nonce: str | None
    user: dict[str, Any]


@dataclass
class FakeProvider:
    """The fake's state; `reset()` between tests."""

    base_url: str = ""
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, {"kid": KEY_ID}))
    rogue_key: RSAKey = field(
        default_factory=lambda: RSAKey.generate_key(2048, {"kid": KEY_ID}))
    google_user: dict[str, Any] = field(default_factory=dict)
    github_user: dict[str, Any] = field(default_factory=dict)
    github_emails: list[dict[str, Any]] = field(default_factory=list)
    deny: bool = False
    tamper: str | None = None
    """None, or how to spoil the id token: `signature`, `nonce`, `audience` or `missing`."""
    grants: dict[str, Grant] = field(default_factory=dict)
    access_tokens: dict[str, Grant] = field(default_factory=dict)
    authorize_requests: list[dict[str, str]] = field(default_factory=list)

    def reset(self) -> None:
        self.google_user = {"sub": "g-1001", "email": "grace@example.com",
                            "email_verified": True, "name": "Grace Hopper"}
        self.github_user = {"id": 424242, "login": "linus", "name": "Linus T"}
        self.github_emails = [{"email": "linus@example.com", "primary": True, "verified": True}]
        self.deny = False
        self.tamper = None
        self.grants.clear()
        self.access_tokens.clear()
        self.authorize_requests.clear()

    # --- Google-like OpenID Connect --------------------------------------------------------

    async def discovery(self, request: Request) -> Response:
        return JSONResponse({
            "issuer": self.base_url,
            "authorization_endpoint": f"{self.base_url}/authorize",
            "token_endpoint": f"{self.base_url}/token",
            "userinfo_endpoint": f"{self.base_url}/userinfo",
            "jwks_uri": f"{self.base_url}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
        })

    async def jwks(self, request: Request) -> Response:
        return JSONResponse(KeySet([self.key]).as_dict(private=False))

    def _authorize(self, request: Request, provider: str, user: dict[str, Any]) -> Response:
        params = dict(request.query_params)
        self.authorize_requests.append(params)
        if params.get("client_id") != CLIENT_ID or params.get("response_type") != "code":
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        redirect_uri = params["redirect_uri"]
        if self.deny:
            return RedirectResponse(f"{redirect_uri}?" + urlencode({
                "error": "access_denied", "error_description": "The user said no.",
                "state": params.get("state", "")}), status_code=302)
        code = secrets.token_urlsafe(16)
        self.grants[code] = Grant(provider=provider, redirect_uri=redirect_uri,
                                  code_challenge=params.get("code_challenge"),
                                  nonce=params.get("nonce"), user=dict(user))
        return RedirectResponse(f"{redirect_uri}?" + urlencode(
            {"code": code, "state": params.get("state", "")}), status_code=302)

    async def authorize(self, request: Request) -> Response:
        return self._authorize(request, "google", self.google_user)

    async def _redeem(self, request: Request) -> Grant | Response:
        form = await request.form()
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        auth = request.headers.get("authorization", "")
        if auth.startswith("Basic "):
            client_id, _, client_secret = base64.b64decode(auth[6:]).decode().partition(":")
        if client_id != CLIENT_ID or client_secret != CLIENT_SECRET:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        grant = self.grants.pop(str(form.get("code")), None)  # single use
        if grant is None or form.get("grant_type") != "authorization_code" \
                or form.get("redirect_uri") != grant.redirect_uri:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        verifier = str(form.get("code_verifier") or "")
        challenge = base64.urlsafe_b64encode(
            hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if grant.code_challenge is None or challenge != grant.code_challenge:
            return JSONResponse({"error": "invalid_grant", "error_description": "PKCE"},
                                status_code=400)
        return grant

    async def token(self, request: Request) -> Response:
        grant = await self._redeem(request)
        if isinstance(grant, Response):
            return grant
        access_token = secrets.token_urlsafe(16)
        self.access_tokens[access_token] = grant
        now = int(time.time())
        claims = {"iss": self.base_url, "sub": grant.user["sub"], "aud": CLIENT_ID,
                  "iat": now, "exp": now + 3600, "nonce": grant.nonce,
                  "email": grant.user.get("email"),
                  "email_verified": grant.user.get("email_verified"),
                  "name": grant.user.get("name")}
        key = self.key
        if self.tamper == "signature":
            key = self.rogue_key
        elif self.tamper == "nonce":
            claims["nonce"] = "not-the-nonce-we-were-given"
        elif self.tamper == "audience":
            claims["aud"] = "some-other-client"
        body: dict[str, Any] = {"access_token": access_token, "token_type": "Bearer",
                                "expires_in": 3600, "scope": "openid email profile"}
        if self.tamper != "missing":
            body["id_token"] = jwt.encode({"alg": "RS256", "kid": KEY_ID}, claims, key)
        return JSONResponse(body)

    def _bearer(self, request: Request) -> Grant | None:
        auth = request.headers.get("authorization", "")
        return self.access_tokens.get(auth[7:]) if auth.startswith("Bearer ") else None

    async def userinfo(self, request: Request) -> Response:
        grant = self._bearer(request)
        if grant is None:
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        return JSONResponse(grant.user)

    # --- GitHub-like OAuth 2 ---------------------------------------------------------------

    async def github_authorize(self, request: Request) -> Response:
        user = {**self.github_user, "_emails": copy.deepcopy(self.github_emails)}
        return self._authorize(request, "github", user)

    async def github_token(self, request: Request) -> Response:
        grant = await self._redeem(request)
        if isinstance(grant, Response):
            return grant
        access_token = f"gho_{secrets.token_urlsafe(16)}"
        self.access_tokens[access_token] = grant
        return JSONResponse({"access_token": access_token, "token_type": "bearer",
                             "scope": "read:user,user:email"})

    async def github_user_endpoint(self, request: Request) -> Response:
        grant = self._bearer(request)
        if grant is None:
            return JSONResponse({"message": "Bad credentials"}, status_code=401)
        return JSONResponse({k: v for k, v in grant.user.items() if k != "_emails"})

    async def github_emails_endpoint(self, request: Request) -> Response:
        grant = self._bearer(request)
        if grant is None:
            return JSONResponse({"message": "Bad credentials"}, status_code=401)
        return JSONResponse(grant.user["_emails"])

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/.well-known/openid-configuration", self.discovery),
            Route("/authorize", self.authorize),
            Route("/token", self.token, methods=["POST"]),
            Route("/userinfo", self.userinfo),
            Route("/jwks", self.jwks),
            Route("/login/oauth/authorize", self.github_authorize),
            Route("/login/oauth/access_token", self.github_token, methods=["POST"]),
            Route("/api/user", self.github_user_endpoint),
            Route("/api/user/emails", self.github_emails_endpoint),
        ])


class ServedProvider:
    """The fake served by uvicorn on 127.0.0.1 in a thread, for the whole test run."""

    def __init__(self) -> None:
        self.port = free_port()
        self.fake = FakeProvider(base_url=f"http://127.0.0.1:{self.port}")
        self.fake.reset()
        self.server = uvicorn.Server(uvicorn.Config(
            self.fake.app(), host="127.0.0.1", port=self.port, log_level="warning",
            lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> FakeProvider:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the fake provider did not start")
            time.sleep(0.02)
        return self.fake

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
