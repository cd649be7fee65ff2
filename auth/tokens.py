"""Access tokens (short-lived JWTs) and opaque secrets (refresh, email and invitation tokens).

The JWT algorithm is pinned to HS256 and every registered claim is required on decode, so an
`alg: none` or a token from another issuer or audience is refused. Opaque secrets are random and
stored only as their SHA-256 hash: a leaked table does not leak a usable token.

A verified access token's claims are kept in memory (`VERIFIED_MAX` of them, the most recently
used): a client sends the same token with every request until it expires, and checking its
signature and claims again cost about a twentieth of a small query's CPU. Only the expiry can
change a verified token's verdict, and it is checked on every use; the session it names is
still read on every request (`auth/authenticate.py`), so signing out is as immediate as before.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast

import jwt

from core.settings import Settings

ALGORITHM = "HS256"
ACCESS_TYPE = "access"


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    session_id: uuid.UUID
    expires_at: datetime


def _signing_key(settings: Settings) -> bytes:
    return _key_of(settings.secret_key)


@functools.lru_cache(maxsize=8)
def _key_of(secret_key: str) -> bytes:
    # A key of its own for JWTs, derived from the random SECRET_KEY, so other uses of the secret
    # (CSRF, signed URLs) never share a key with tokens.
    return hmac.new(secret_key.encode(), b"relleks:jwt:access", hashlib.sha256).digest()


VERIFIED_MAX = 4096
"""Verified access tokens whose claims are kept (about 0.5 kB each)."""
_verified: OrderedDict[tuple[bytes, str | None, str | None, str], AccessClaims] = OrderedDict()


def issue_access_token(settings: Settings, user_id: uuid.UUID, session_id: uuid.UUID,
                       now: datetime | None = None) -> tuple[str, datetime]:
    now = now or datetime.now(UTC)
    expires_at = now + timedelta(seconds=settings.access_token_ttl)
    claims = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": str(user_id),
        "sid": str(session_id),
        "typ": ACCESS_TYPE,
        "iat": int(now.timestamp()),
        "exp": int(expires_at.timestamp()),
        "jti": secrets.token_urlsafe(8),
    }
    return jwt.encode(claims, _signing_key(settings), algorithm=ALGORITHM), expires_at


class InvalidToken(Exception):
    """The token is malformed, forged, expired or of the wrong kind; the message says which."""


class TokenExpired(InvalidToken):
    """The token was good but is past its expiry: a refreshed one would do."""


def decode_access_token(settings: Settings, token: str) -> AccessClaims:
    key = (_signing_key(settings), settings.jwt_audience, settings.jwt_issuer, token)
    claims = _verified.get(key)
    if claims is not None:
        # As PyJWT decides it: expired once `exp` is reached.
        if claims.expires_at.timestamp() <= time.time():
            del _verified[key]
            raise TokenExpired("The access token has expired: refresh the session.")
        _verified.move_to_end(key)
        return claims
    claims = _verify(settings, token)
    _verified[key] = claims
    if len(_verified) > VERIFIED_MAX:
        _verified.popitem(last=False)
    return claims


def _verify(settings: Settings, token: str) -> AccessClaims:
    """The token's claims, once its signature and claims are checked."""
    try:
        claims = jwt.decode(
            token,
            _signing_key(settings),
            algorithms=[ALGORITHM],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": ["exp", "iat", "iss", "aud", "sub", "sid", "typ"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise TokenExpired("The access token has expired: refresh the session.") from exc
    except jwt.PyJWTError as exc:
        raise InvalidToken("The access token is invalid.") from exc
    if claims.get("typ") != ACCESS_TYPE:
        raise InvalidToken("The access token is invalid.")
    try:
        return AccessClaims(
            user_id=uuid.UUID(claims["sub"]),
            session_id=uuid.UUID(claims["sid"]),
            expires_at=datetime.fromtimestamp(claims["exp"], UTC),
        )
    except (ValueError, TypeError) as exc:
        raise InvalidToken("The access token is invalid.") from exc


def new_secret(prefix: str) -> str:
    """A random, URL-safe secret with a readable prefix naming what it is (e.g. `rlk_rt_`)."""
    return f"{prefix}{secrets.token_urlsafe(32)}"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


SOCIAL_SIGN_UP_TYPE = "social_sign_up"
SOCIAL_SIGN_UP_TTL = timedelta(minutes=15)
"""How long a pending social sign-up waits for the age confirmation and the terms."""
MAX_SIGN_UP_TOKEN = 4096
"""Longer than any token `issue_social_sign_up_token` makes: refused before it is decoded."""


@dataclass(frozen=True)
class PendingSocialSignUp:
    """What a provider vouched for, held by the client until it completes the sign-up."""

    provider: str
    subject: str
    email: str
    name: str


def _sign_up_key(settings: Settings) -> bytes:
    return hmac.new(settings.secret_key.encode(), b"relleks:jwt:social_sign_up",
                    hashlib.sha256).digest()


def issue_social_sign_up_token(settings: Settings, pending: PendingSocialSignUp,
                               now: datetime | None = None) -> str:
    """A signed, short-lived token carrying `pending`: nothing is stored until the client
    completes the sign-up with it (`completeSocialSignUp`), and once that made the account the
    token cannot make another (the identity is linked by then)."""
    now = now or datetime.now(UTC)
    claims = {
        "iss": settings.jwt_issuer, "aud": settings.jwt_audience, "typ": SOCIAL_SIGN_UP_TYPE,
        "sub": pending.subject, "prv": pending.provider, "email": pending.email,
        "name": pending.name, "iat": int(now.timestamp()),
        "exp": int((now + SOCIAL_SIGN_UP_TTL).timestamp()), "jti": secrets.token_urlsafe(8),
    }
    return jwt.encode(claims, _sign_up_key(settings), algorithm=ALGORITHM)


def read_social_sign_up_token(settings: Settings, token: str) -> PendingSocialSignUp:
    """The pending sign-up a token carries; TokenExpired or InvalidToken when it carries none."""
    if len(token) > MAX_SIGN_UP_TOKEN:
        raise InvalidToken("The sign-up token is invalid.")
    try:
        claims = jwt.decode(
            token, _sign_up_key(settings), algorithms=[ALGORITHM],
            audience=settings.jwt_audience, issuer=settings.jwt_issuer,
            options={"require": ["exp", "iat", "iss", "aud", "sub", "typ"]})
    except jwt.ExpiredSignatureError as exc:
        raise TokenExpired("The sign-up token has expired.") from exc
    except jwt.PyJWTError as exc:
        raise InvalidToken("The sign-up token is invalid.") from exc
    fields = (claims.get("prv"), claims.get("sub"), claims.get("email"), claims.get("name"))
    if claims.get("typ") != SOCIAL_SIGN_UP_TYPE or not all(isinstance(f, str) for f in fields):
        raise InvalidToken("The sign-up token is invalid.")
    provider, subject, email, name = cast("tuple[str, str, str, str]", fields)
    return PendingSocialSignUp(provider=provider, subject=subject, email=email, name=name)
