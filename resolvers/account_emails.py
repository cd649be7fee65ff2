"""Email verification and password reset: single-use links sent by email.

A token is a random secret with a prefix naming its purpose (`rlk_ev_` verifies an email,
`rlk_pr_` resets a password). Only its SHA-256 hash is stored (`EmailToken`), so a leaked table
holds no usable link. A token expires (constants below) and works once: using it claims it with a
conditional UPDATE (`used_at IS NULL`), so of two concurrent uses only one wins.

The mail links to the web client, `{PUBLIC_URL}/verify-email?token=...` and
`{PUBLIC_URL}/reset-password?token=...`; that page calls `verifyEmail` / `resetPassword`. Mail is
sent after the transaction that stored the token commits. `requestPasswordReset` looks the
address up and mails only after its response is sent (a Starlette background task), so neither
its answer nor its timing tells whether an account exists.

An account made through `signUp` starts verified (its link proved the mailbox, see
`resolvers/sign_ups.py`); verification serves the accounts that were made unverified before.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum

import structlog

from auth.passwords import check_strength, hash_password
from auth.tokens import hash_secret, new_secret
from core.errors import BadUserInput
from core.validation import validate
from engine.context import Context
from mail import messages
from models.accounts import EmailToken, TokenPurpose, User
from realtime.outbox import in_transaction
from resolvers.accounts import end_sessions
from services import Services

VERIFY_EMAIL_TTL = timedelta(hours=48)
RESET_PASSWORD_TTL = timedelta(hours=1)
VERIFY_EMAIL_PREFIX = "rlk_ev_"
RESET_PASSWORD_PREFIX = "rlk_pr_"
VERIFY_EMAIL_PAGE = "verify-email"
RESET_PASSWORD_PAGE = "reset-password"

log = structlog.get_logger("relleks.account_emails")


class TokenProblem(StrEnum):
    """`extensions.reason` of a refused token: clients show a matching message."""

    INVALID = "TOKEN_INVALID"
    EXPIRED = "TOKEN_EXPIRED"
    USED = "TOKEN_USED"

    def error(self) -> BadUserInput:
        """This refusal as the error to raise, e.g. `raise TokenProblem.USED.error()`."""
        return BadUserInput.token(self.value, _PROBLEMS[self])


_PROBLEMS = {
    TokenProblem.INVALID: "this link is not valid (mistyped, or replaced by a newer one): "
                          "ask for a new one",
    TokenProblem.EXPIRED: "this link has expired: ask for a new one",
    TokenProblem.USED: "this link was already used: ask for a new one if you still need it",
}


def _password_context(user: User) -> list[str]:
    return [user.email, *user.email.split("@"), user.name, *user.name.split()]


async def _issue(user: User, purpose: TokenPurpose, *, ttl: timedelta, prefix: str) -> str:
    """Store a new token's hash and return the secret itself, which only the mail will hold."""
    secret = new_secret(prefix)
    await EmailToken.create(user=user, purpose=purpose, token_hash=hash_secret(secret),
                            expires_at=datetime.now(UTC) + ttl)
    return secret


async def _find(token: str, purpose: TokenPurpose) -> EmailToken:
    """The unused, unexpired token of this purpose, or BAD_USER_INPUT saying why not. A token of
    another purpose is as invalid as an unknown one."""
    token = token.strip()
    record = await EmailToken.filter(token_hash=hash_secret(token), purpose=purpose) \
        .select_related("user").first() if token else None
    if record is None:
        raise TokenProblem.INVALID.error()
    if record.used_at is not None:
        raise TokenProblem.USED.error()
    if record.expires_at <= datetime.now(UTC):
        raise TokenProblem.EXPIRED.error()
    return record


async def _claim(record: EmailToken, now: datetime) -> None:
    """Use the token up; a concurrent use that claimed it first makes this one fail."""
    claimed = await EmailToken.filter(id=record.id, used_at__isnull=True,
                                      expires_at__gt=now).update(used_at=now)
    if not claimed:
        raise TokenProblem.USED.error()


async def send_verification_email(services: Services, user: User) -> None:
    token = await _issue(user, TokenPurpose.VERIFY_EMAIL, ttl=VERIFY_EMAIL_TTL,
                         prefix=VERIFY_EMAIL_PREFIX)
    url = messages.link(services.settings.public_url, VERIFY_EMAIL_PAGE, token)
    await services.mailer.send(messages.verification_mail(to=user.email, name=user.name, url=url,
                                                          ttl=VERIFY_EMAIL_TTL))


async def request_email_verification(ctx: Context) -> bool:
    """Mail the viewer a verification link; False, sending nothing, when already verified."""
    user = ctx.user
    if user.email_verified:
        return False
    await ctx.services.limiter.hit_mail(action="verify_email", email=user.email, ip=ctx.client_ip)
    await send_verification_email(ctx.services, user)
    return True


async def verify_email(ctx: Context, token: str) -> User:
    record = await _find(token, TokenPurpose.VERIFY_EMAIL)
    now = datetime.now(UTC)
    async with in_transaction():
        await _claim(record, now)
        await User.filter(id=record.user_id).update(email_verified=True, updated_at=now)
    return await User.get(id=record.user_id)


async def _send_password_reset(services: Services, email: str) -> None:
    user = await User.filter(email=email).first()
    if user is None:
        return
    async with in_transaction():
        # Only the newest link works: older unused ones stop working (TOKEN_INVALID).
        await EmailToken.filter(user_id=user.id, purpose=TokenPurpose.RESET_PASSWORD,
                                used_at__isnull=True).delete()
        token = await _issue(user, TokenPurpose.RESET_PASSWORD, ttl=RESET_PASSWORD_TTL,
                             prefix=RESET_PASSWORD_PREFIX)
    url = messages.link(services.settings.public_url, RESET_PASSWORD_PAGE, token)
    await services.mailer.send(messages.password_reset_mail(to=user.email, name=user.name, url=url,
                                                            ttl=RESET_PASSWORD_TTL))


async def request_password_reset(ctx: Context, email: str) -> bool:
    """Always True once the address is well formed and within the rate limit: the lookup and the
    mail happen after the response, so an unknown address looks exactly like a known one."""
    with validate() as check:
        address = check.email("email", email)
    await ctx.services.limiter.hit_mail(action="reset_password", email=address, ip=ctx.client_ip)
    ctx.after_response(lambda: _send_password_reset(ctx.services, address),
                       event="mail.password_reset_failed")
    return True


async def reset_password(ctx: Context, token: str, new_password: str) -> bool:
    """Set a new password with a reset token. Every session of the user ends, and the email
    counts as verified (the link proved the mailbox). A weak password leaves the token unused."""
    record = await _find(token, TokenPurpose.RESET_PASSWORD)
    user = record.user
    check_strength(new_password, field="newPassword", context=_password_context(user))
    password_hash = hash_password(new_password)  # argon2 is slow: not inside the transaction
    now = datetime.now(UTC)
    async with in_transaction():
        await _claim(record, now)
        await User.filter(id=user.id).update(password_hash=password_hash, email_verified=True,
                                             updated_at=now)
        await end_sessions(ctx.services.broker, user.id)
        await EmailToken.filter(user_id=user.id, purpose=TokenPurpose.RESET_PASSWORD,
                                used_at__isnull=True).delete()
    log.info("account.password_reset", user_id=str(user.id), request_id=ctx.request_id)
    return True
