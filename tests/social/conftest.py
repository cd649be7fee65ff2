"""Fixtures for social sign-in: the fake provider (`fake_provider.py`) served on 127.0.0.1, the
app configured to use it, and a `Browser` that walks the redirects as a person's browser would:
app `/auth/<provider>/start` -> provider -> app `/auth/<provider>/callback` -> back to the app.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from core.settings import Settings
from tests.smtp import Inbox
from tests.social.fake_provider import CLIENT_ID, CLIENT_SECRET, FakeProvider, ServedProvider

APP_URL = "http://testserver/app/welcome"
ADULT = "1990-05-17"
COMPLETE_SIGN_UP = """mutation($input: CompleteSocialSignUpInput!) {
  completeSocialSignUp(input: $input) { accessToken expiresAt user { email } } }"""


@pytest.fixture(scope="session")
def served_provider() -> Iterator[FakeProvider]:
    with ServedProvider() as fake:
        yield fake


@pytest.fixture
def provider(served_provider: FakeProvider) -> FakeProvider:
    served_provider.reset()
    return served_provider


@pytest.fixture
def settings(settings: Settings, served_provider: FakeProvider,
             smtp_server: tuple[Inbox, int]) -> Settings:
    base = served_provider.base_url
    return replace(
        settings,
        smtp_url=f"smtp://127.0.0.1:{smtp_server[1]}",
        google_client_id=CLIENT_ID, google_client_secret=CLIENT_SECRET,
        google_discovery_url=f"{base}/.well-known/openid-configuration",
        github_client_id=CLIENT_ID, github_client_secret=CLIENT_SECRET,
        github_oauth_url=base, github_api_url=f"{base}/api",
    )


@dataclass
class Landing:
    """Where the browser came back to in the app, and what the redirect said."""

    url: str
    query: dict[str, str]
    fragment: dict[str, str]
    response: httpx.Response

    @property
    def path(self) -> str:
        return urlsplit(self.url).path


def _params(text: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(text).items()}


@dataclass
class Browser:
    """A browser: one cookie jar for the app, and plain HTTP to the provider."""

    app: httpx.AsyncClient
    web: httpx.AsyncClient

    async def start(self, provider: str, redirect: str | None = APP_URL) -> httpx.Response:
        params = {"redirect": redirect} if redirect is not None else {}
        return await self.app.get(f"/auth/{provider}/start", params=params)

    async def authorize(self, start: httpx.Response) -> str:
        """Follow the start redirect to the provider; return where it sends the browser back."""
        assert start.status_code == 302, start.text
        answer = await self.web.get(start.headers["location"])
        assert answer.status_code == 302, answer.text
        return answer.headers["location"]

    async def callback(self, url: str) -> Landing:
        parts = urlsplit(url)
        assert parts.netloc == "testserver", url
        response = await self.app.get(f"{parts.path}?{parts.query}")
        assert response.status_code == 303, response.text
        location = response.headers["location"]
        landed = urlsplit(location)
        return Landing(location, _params(landed.query), _params(landed.fragment), response)

    async def sign_in(self, provider: str = "google", redirect: str | None = APP_URL) -> Landing:
        return await self.callback(await self.authorize(await self.start(provider, redirect)))

    async def complete(self, landing: Landing, **fields: Any) -> dict[str, Any]:
        """`completeSocialSignUp` with the token the landing carried, over this browser's
        cookies: 16 or older and the terms accepted unless `fields` says otherwise."""
        variables = {"token": landing.fragment["sign_up_token"], "birthDate": ADULT,
                     "acceptTerms": True, "useCookies": True, **fields}
        response = await self.app.post("/graphql", json={"query": COMPLETE_SIGN_UP,
                                                          "variables": {"input": variables}})
        body: dict[str, Any] = response.json()
        return body

    async def sign_up(self, provider: str = "google", redirect: str | None = APP_URL) -> Landing:
        """Sign in as a new person at the provider and complete the sign-up: signed in."""
        landing = await self.sign_in(provider, redirect)
        assert landing.query == {"social": "sign_up_required", "provider": provider}, landing
        body = await self.complete(landing)
        assert "errors" not in body, body
        return landing

    def cookie(self, name: str) -> str | None:
        return self.app.cookies.get(name)


@pytest.fixture
async def browser(app: Any, provider: FakeProvider) -> AsyncIterator[Browser]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.20", 50100))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client, \
            httpx.AsyncClient() as web:
        yield Browser(client, web)
