"""The social sign-in providers, spoken to through authlib's Starlette client.

Google is OpenID Connect: its endpoints come from the discovery document, the authorization
request carries PKCE (S256) and a nonce, and the id token is verified by authlib against the
provider's JWKS (signature, issuer, audience, expiry, nonce) before anything in it is believed.
GitHub is plain OAuth 2: the person's id comes from `GET /user` and their email, with whether
GitHub verified it, from `GET /user/emails`.

authlib keeps each flow's state, PKCE verifier and nonce in the browser's session, which
`web/social.py` holds in a signed, short-lived cookie: the callback is accepted only from the
browser that started the flow. A provider without a client id and secret is disabled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from authlib.integrations.starlette_client import OAuth, StarletteOAuth2App
from starlette.requests import Request

from core.settings import Settings
from models.social import SocialProvider

HTTP_TIMEOUT = 10.0


class ProviderError(Exception):
    """The provider refused, or answered something we cannot trust. `reason` goes to the log,
    never to the person: they see only an error code."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Identity:
    """Who the provider says signed in. `subject` never changes for a person at a provider;
    `email` is the address the provider holds, `email_verified` whether it checked it."""

    provider: SocialProvider
    subject: str
    email: str | None
    email_verified: bool
    name: str | None


class SocialProviders:
    """The configured providers. authlib's clients are built once and kept: they cache the
    discovery document and the JWKS (fetched again when an id token names an unknown key)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._oauth = OAuth()
        self._enabled: set[SocialProvider] = set()
        if settings.google_client_id and settings.google_client_secret:
            self._oauth.register(
                name=SocialProvider.GOOGLE.value,
                client_id=settings.google_client_id,
                client_secret=settings.google_client_secret,
                server_metadata_url=settings.google_discovery_url,
                client_kwargs={"scope": "openid email profile", "code_challenge_method": "S256",
                               "timeout": HTTP_TIMEOUT},
            )
            self._enabled.add(SocialProvider.GOOGLE)
        if settings.github_client_id and settings.github_client_secret:
            oauth_url = settings.github_oauth_url.rstrip("/")
            self._oauth.register(
                name=SocialProvider.GITHUB.value,
                client_id=settings.github_client_id,
                client_secret=settings.github_client_secret,
                authorize_url=f"{oauth_url}/login/oauth/authorize",
                access_token_url=f"{oauth_url}/login/oauth/access_token",
                api_base_url=settings.github_api_url.rstrip("/") + "/",
                # GitHub supports PKCE too; it does not make the client secret optional.
                client_kwargs={"scope": "read:user user:email", "code_challenge_method": "S256",
                               "timeout": HTTP_TIMEOUT},
            )
            self._enabled.add(SocialProvider.GITHUB)

    def enabled(self, provider: SocialProvider) -> bool:
        return provider in self._enabled

    def client(self, provider: SocialProvider) -> StarletteOAuth2App:
        """The provider's authlib client; only for an enabled provider."""
        client = self._oauth.create_client(provider.value)
        assert client is not None, f"{provider} is disabled"
        return client

    def callback_url(self, provider: SocialProvider) -> str:
        """The redirect URI to register at the provider: `{PUBLIC_URL}/auth/<provider>/callback`."""
        return f"{self.settings.public_url.rstrip('/')}/auth/{provider.value}/callback"

    def start_url(self, provider: SocialProvider) -> str:
        return f"{self.settings.public_url.rstrip('/')}/auth/{provider.value}/start"

    async def identity(self, provider: SocialProvider, request: Request) -> Identity:
        """Finish the flow at the callback: authlib checks `state` against the session, trades
        the code (with the PKCE verifier) for tokens and, for Google, verifies the id token.
        Raises ProviderError for anything the provider refused or got wrong; a missing or
        foreign `state` is authlib's MismatchingStateError, which the caller checks first."""
        client = self.client(provider)
        try:
            token = await client.authorize_access_token(request)
        except ProviderError:
            raise
        except Exception as exc:  # the network, the provider or its tokens: never our data
            raise ProviderError(f"{type(exc).__name__}: {str(exc)[:200]}") from exc
        try:
            if provider is SocialProvider.GOOGLE:
                return await _google_identity(client, token)
            return await _github_identity(client, token)
        except ProviderError:
            raise
        except Exception as exc:
            raise ProviderError(f"{type(exc).__name__}: {str(exc)[:200]}") from exc


async def _google_identity(client: StarletteOAuth2App, token: dict[str, Any]) -> Identity:
    claims = token.get("userinfo")
    if not claims or not claims.get("sub"):
        # authlib verifies an id token only when one came: without it nothing is proven.
        raise ProviderError("no id_token in the token response")
    info = await client.userinfo(token=token)
    if info.get("sub") != claims["sub"]:
        raise ProviderError("userinfo names another subject than the id token")
    email = info.get("email") or claims.get("email")
    verified = info.get("email_verified", claims.get("email_verified"))
    return Identity(provider=SocialProvider.GOOGLE, subject=str(claims["sub"]),
                    email=email, email_verified=verified is True or verified == "true",
                    name=info.get("name") or claims.get("name"))


async def _github_identity(client: StarletteOAuth2App, token: dict[str, Any]) -> Identity:
    user_response = await client.get("user", token=token)
    user_response.raise_for_status()
    user = user_response.json()
    emails_response = await client.get("user/emails", token=token)
    emails_response.raise_for_status()
    emails = emails_response.json()
    if not isinstance(user, dict) or not user.get("id") or not isinstance(emails, list):
        raise ProviderError("unexpected /user or /user/emails answer")
    # The primary address, when GitHub verified it; GitHub's `user.email` is only the public one.
    primary = next((e for e in emails if isinstance(e, dict) and e.get("primary")), None)
    return Identity(provider=SocialProvider.GITHUB, subject=str(user["id"]),
                    email=primary.get("email") if primary else None,
                    email_verified=bool(primary and primary.get("verified") is True),
                    name=user.get("name") or user.get("login"))
