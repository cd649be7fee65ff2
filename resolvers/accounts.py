"""Accounts: signing in, sessions, profile and password (signing up: `resolvers/sign_ups.py`).

Tokens: a short-lived JWT access token names its session; the opaque refresh token is stored
hashed and rotated on every use, and a second use of one ends its whole session (theft detection).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from auth import cookies
from auth.passwords import check_strength, hash_password, needs_rehash, verify_password
from auth.tokens import hash_secret, issue_access_token, new_secret
from core.errors import NotFound, Unauthenticated
from core.validation import EMAIL_MAX, Checks, validate
from engine.context import Context
from models.accounts import RefreshToken, Session, User
from realtime.broker import Broker
from realtime.credentials import announce_sessions_ended
from realtime.outbox import in_transaction

MINIMUM_AGE = 16
NAME_MAX = 200
REFRESH_PREFIX = "rlk_rt_"
BAD_LOGIN = "Wrong email or password."


@dataclass
class AuthResult:
    """What signing in yields; tokens are None when they went into cookies instead."""

    user: User
    access_token: str | None
    refresh_token: str | None
    expires_at: datetime


def age_on(birth_date: date, today: date) -> int:
    years = today.year - birth_date.year
    return years - ((today.month, today.day) < (birth_date.month, birth_date.day))


def login_email(email: str) -> str | None:
    """The stored form of an email typed at sign-in (normalised as at sign-up, so a different
    Unicode form or a punycode domain still matches), or None for text that is no email: it
    matches nobody, and is never sent to the database (which may refuse it: too long, a NUL)."""
    check = Checks()
    address = check.email("email", email)
    return None if check.problems else address


async def log_in(ctx: Context, *, email: str, password: str, use_cookies: bool) -> AuthResult:
    key = login_email(email)
    await ctx.services.limiter.hit(email=key or email.strip().lower()[:EMAIL_MAX],
                                   ip=ctx.client_ip)
    user = await User.filter(email=key).first() if key else None
    # verify_password runs argon2 even for an unknown email, so both failures take as long.
    password_ok = verify_password(user.password_hash if user else None, password)
    if user is None or not password_ok:
        raise Unauthenticated(BAD_LOGIN)
    if user.password_hash is not None and needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
        await user.save(update_fields=["password_hash", "updated_at"])
    async with in_transaction():
        return await start_session(ctx, user, use_cookies=use_cookies)


async def start_session(ctx: Context, user: User, *, use_cookies: bool) -> AuthResult:
    settings = ctx.services.settings
    now = datetime.now(UTC)
    session = await Session.create(
        user=user, last_used_at=now, expires_at=now + timedelta(seconds=settings.refresh_token_ttl),
        ip=ctx.client_ip, user_agent=ctx.user_agent,
    )
    return await _issue_tokens(ctx, user, session, use_cookies=use_cookies)


async def _issue_tokens(ctx: Context, user: User, session: Session, *,
                        use_cookies: bool) -> AuthResult:
    settings = ctx.services.settings
    refresh_token = new_secret(REFRESH_PREFIX)
    await RefreshToken.create(session=session, token_hash=hash_secret(refresh_token))
    access_token, expires_at = issue_access_token(settings, user.id, session.id)
    if use_cookies:
        cookies.set_session_cookies(ctx.response, settings, access_token=access_token,
                                    refresh_token=refresh_token)
        return AuthResult(user=user, access_token=None, refresh_token=None, expires_at=expires_at)
    return AuthResult(user=user, access_token=access_token, refresh_token=refresh_token,
                      expires_at=expires_at)


async def refresh_session(ctx: Context, refresh_token: str | None) -> AuthResult:
    settings = ctx.services.settings
    use_cookies = refresh_token is None
    if refresh_token is None:
        refresh_token = ctx.request.cookies.get(cookies.CookieNames.for_settings(settings).refresh)
    if not refresh_token:
        raise Unauthenticated("No refresh token: pass `refreshToken` or send the session cookie.")
    now = datetime.now(UTC)
    token = await RefreshToken.filter(token_hash=hash_secret(refresh_token)) \
        .select_related("session__user").first()
    if token is None:
        raise Unauthenticated("The refresh token is invalid.")
    session = token.session
    if session.revoked_at is not None or session.expires_at <= now:
        raise Unauthenticated("The session has ended: sign in again.")
    async with in_transaction():
        claimed = await RefreshToken.filter(id=token.id, used_at__isnull=True).update(used_at=now)
        if not claimed:
            # This token was already spent: someone else holds the newer one. End the session.
            await Session.filter(id=session.id).update(revoked_at=now)
            await announce_sessions_ended(ctx.services.broker, session.user.id)
        else:
            await Session.filter(id=session.id).update(
                last_used_at=now, ip=ctx.client_ip, user_agent=ctx.user_agent)
            return await _issue_tokens(ctx, session.user, session, use_cookies=use_cookies)
    if use_cookies:
        cookies.clear_session_cookies(ctx.response, settings)
    raise Unauthenticated("This refresh token was already used: the session has been ended "
                          "for safety. Sign in again.", reason="REFRESH_TOKEN_REUSED")


async def log_out(ctx: Context) -> bool:
    await Session.filter(id=ctx.session.id).update(revoked_at=datetime.now(UTC))
    await announce_sessions_ended(ctx.services.broker, ctx.session.user_id)
    cookies.clear_session_cookies(ctx.response, ctx.services.settings)
    return True


async def end_sessions(broker: Broker, user_id: uuid.UUID, *,
                       keep: uuid.UUID | None = None) -> int:
    """End the user's sessions (but `keep`); their open WebSockets are told to re-check."""
    query = Session.filter(user_id=user_id, revoked_at__isnull=True)
    if keep is not None:
        query = query.exclude(id=keep)
    ended = await query.update(revoked_at=datetime.now(UTC))
    if ended:
        await announce_sessions_ended(broker, user_id)
    return ended


async def log_out_everywhere(ctx: Context) -> int:
    ended = await end_sessions(ctx.services.broker, ctx.user.id)
    cookies.clear_session_cookies(ctx.response, ctx.services.settings)
    return ended


async def active_sessions(ctx: Context) -> list[Session]:
    return await Session.filter(
        user_id=ctx.user.id, revoked_at__isnull=True, expires_at__gt=datetime.now(UTC)
    ).order_by("-last_used_at", "-id")


async def revoke_session(ctx: Context, session_id: uuid.UUID) -> bool:
    ended = await Session.filter(id=session_id, user_id=ctx.user.id,
                                 revoked_at__isnull=True).update(revoked_at=datetime.now(UTC))
    if not ended:
        raise NotFound("session", field="id")
    await announce_sessions_ended(ctx.services.broker, ctx.user.id)
    return True


async def update_profile(ctx: Context, changes: Mapping[str, str | None]) -> User:
    """Apply `changes` (field name to new value); a field that is not a key stays as it is."""
    user = ctx.user
    updated = []
    with validate() as check:
        if "name" in changes:
            name = check.not_null("name", changes["name"])
            if name is not None:
                user.name = check.name("name", name, max_length=NAME_MAX)
                updated.append("name")
    if updated:
        await user.save(update_fields=[*updated, "updated_at"])
    return user


async def change_password(ctx: Context, *, current_password: str, new_password: str) -> bool:
    user = ctx.user
    await ctx.services.limiter.hit_password_check(email=user.email, ip=ctx.client_ip)
    with validate() as check:
        check.require("currentPassword", verify_password(user.password_hash, current_password),
                      "is not your current password")
        check.call(check_strength, new_password, field="newPassword",
                   context=[user.email, *user.email.split("@"), user.name, *user.name.split()])
    async with in_transaction():
        user.password_hash = hash_password(new_password)
        await user.save(update_fields=["password_hash", "updated_at"])
        await end_sessions(ctx.services.broker, user.id, keep=ctx.session.id)
    return True
