"""Social sign-in: what a verified provider identity leads to, linking it, and unlinking it.

After the provider callback (`web/social.py`) the identity is one of:

- known (provider and subject linked to a user): that user signs in;
- new, with an email the provider verified and no account uses: nothing is created yet. The
  browser gets a signed pending sign-up token (`auth.tokens.issue_social_sign_up_token`, 15
  minutes), and the account is made only when the client completes it with the age confirmation
  and the acceptance of the terms, as `signUp` asks for them (`completeSocialSignUp`): then the
  user is created with the identity linked and no password (a password reset sets one), and
  signs in. The token is stored nowhere; once used, the linked identity makes a second use
  TOKEN_USED;
- new, with a verified email an existing account uses: nothing is linked and nobody is signed
  in yet. A `SocialLinkRequest` waits for the account's owner to confirm, with their password
  (`confirmSocialLink`, using the token handed to the browser) or through the link mailed to the
  account's address (`confirmSocialLinkByEmail`). Only then is the identity linked;
- an email the provider did not verify: refused. It would otherwise let someone holding an
  unverified address at a provider take over, or pre-register, the account of that address.

Link tokens are random secrets stored as SHA-256 hashes, single use and short-lived, like the
other emailed tokens (`resolvers/account_emails.py`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

import structlog
from tortoise.exceptions import IntegrityError

from auth.passwords import verify_password
from auth.social import Identity
from auth.tokens import (
    InvalidToken,
    PendingSocialSignUp,
    TokenExpired,
    hash_secret,
    issue_social_sign_up_token,
    new_secret,
    read_social_sign_up_token,
)
from core.errors import BadUserInput, Conflict, NotFound, RateLimited, Unauthenticated
from core.validation import Checks, validate
from engine.context import Context
from mail import messages
from models.accounts import User
from models.social import SocialIdentity, SocialLinkRequest, SocialProvider
from realtime.outbox import in_transaction
from resolvers.account_emails import TokenProblem
from resolvers.accounts import (
    MINIMUM_AGE,
    NAME_MAX,
    AuthResult,
    age_on,
    end_sessions,
    login_email,
    start_session,
)
from resolvers.policies import record_acceptance

LINK_TTL = timedelta(hours=1)
LINK_PREFIX = "rlk_sl_"
LINK_MAIL_PREFIX = "rlk_slm_"
CONFIRM_LINK_PAGE = "confirm-social-link"
WRONG_PASSWORD = "Wrong password."

log = structlog.get_logger("relleks.social")


class Outcome(StrEnum):
    """What became of a sign-in at a provider; the app sees it as `?social=<value>`."""

    SIGNED_IN = "signed_in"
    SIGN_UP_REQUIRED = "sign_up_required"
    LINK_REQUIRED = "link_required"


class SignInRefused(Exception):
    """The identity cannot sign in; `code` is what the app is told (`?social_error=<code>`)."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass
class SocialSignIn:
    outcome: Outcome
    user: User | None
    """Who signed in or must confirm the link; None with SIGN_UP_REQUIRED (nobody exists yet)."""
    link_token: str | None = None
    """With LINK_REQUIRED: the token `confirmSocialLink` takes with the account's password."""
    sign_up: PendingSocialSignUp | None = None
    sign_up_token: str | None = None
    """With SIGN_UP_REQUIRED: the pending sign-up, and the token `completeSocialSignUp` takes."""


async def sign_in_with(ctx: Context, identity: Identity) -> SocialSignIn:
    """Sign in, sign up or ask to confirm a link, for an identity the provider vouched for.
    Session cookies go on `ctx.response`."""
    now = datetime.now(UTC)
    known = await SocialIdentity.filter(provider=identity.provider, subject=identity.subject) \
        .select_related("user").first()
    if known is not None:
        async with in_transaction():
            await SocialIdentity.filter(id=known.id).update(
                last_used_at=now, email=(identity.email or known.email)[:320])
            await start_session(ctx, known.user, use_cookies=True)
        return SocialSignIn(Outcome.SIGNED_IN, known.user)
    if not identity.email or not identity.email_verified:
        raise SignInRefused("email_unverified", "the provider has not verified the email")
    email = login_email(identity.email)
    if email is None:
        raise SignInRefused("provider_error", "the provider's email is not valid")
    user = await User.filter(email=email).first()
    if user is None:
        return await _sign_up(ctx, identity, email, now)
    if await SocialIdentity.filter(user_id=user.id, provider=identity.provider).exists():
        # The account already has another identity at this provider (GitHub lets an address
        # move between accounts): linking a second one would be a surprise, so refuse.
        raise SignInRefused("identity_conflict",
                            "the account is linked to another identity at this provider")
    return await _request_link(ctx, identity, user, email, now)


async def _sign_up(ctx: Context, identity: Identity, email: str, now: datetime) -> SocialSignIn:
    """A new person: hand back a pending sign-up for the client to complete; nothing stored."""
    check = Checks()
    name = check.name("name", identity.name or email.split("@")[0], max_length=NAME_MAX)
    if check.problems:
        name = email.split("@")[0]
    pending = PendingSocialSignUp(provider=identity.provider.value, subject=identity.subject,
                                  email=email, name=name)
    token = issue_social_sign_up_token(ctx.services.settings, pending, now)
    log.info("social.sign_up_pending", provider=identity.provider.value,
             request_id=ctx.request_id)
    return SocialSignIn(Outcome.SIGN_UP_REQUIRED, None, sign_up=pending, sign_up_token=token)


_SIGN_UP_PROBLEMS = {
    TokenProblem.INVALID: "this sign-up token is not valid: sign in with the provider again",
    TokenProblem.EXPIRED: "this sign-up token has expired: sign in with the provider again",
    TokenProblem.USED: "this sign-up was already completed: sign in with the provider",
}


def _sign_up_refused(problem: TokenProblem) -> BadUserInput:
    return BadUserInput.token(problem.value, _SIGN_UP_PROBLEMS[problem])


async def complete_sign_up(ctx: Context, *, token: str, birth_date: date, accept_terms: bool,
                           terms_version: str | None, use_cookies: bool) -> AuthResult:
    """Make the account a pending social sign-up describes, once the person confirmed their
    age and accepted the terms, the same checks and records as `signUp`/`confirmSignUp`."""
    # Every call counts, like signUp's: the budget bounds the accounts one network can make.
    await ctx.services.limiter.hit_sign_up(ip=ctx.client_ip)
    settings = ctx.services.settings
    try:
        pending = read_social_sign_up_token(settings, token.strip())
        provider = SocialProvider(pending.provider)
    except TokenExpired as exc:
        raise _sign_up_refused(TokenProblem.EXPIRED) from exc
    except (InvalidToken, ValueError) as exc:
        raise _sign_up_refused(TokenProblem.INVALID) from exc
    now = datetime.now(UTC)
    with validate() as check:
        if check.require("birthDate", birth_date <= now.date(), "is in the future"):
            check.require("birthDate", age_on(birth_date, now.date()) >= MINIMUM_AGE,
                          f"you must be at least {MINIMUM_AGE} to sign up")
        check.require("acceptTerms", accept_terms,
                      "the terms and privacy policy must be accepted")
        if terms_version is not None:
            check.require("termsVersion", terms_version == settings.terms_version,
                          f"the terms changed: version {settings.terms_version} is current; "
                          "show it and accept it")
    if await SocialIdentity.filter(provider=provider, subject=pending.subject).exists():
        raise _sign_up_refused(TokenProblem.USED)
    if await User.filter(email=pending.email).exists():
        # An account appeared for the address meanwhile: signing in again leads to linking.
        raise _sign_up_refused(TokenProblem.INVALID)
    try:
        async with in_transaction():
            user = await User.create(
                email=pending.email, email_verified=True, name=pending.name,
                password_hash=None, age_check_passed_at=now,
                terms_version=settings.terms_version, terms_accepted_at=now)
            await record_acceptance(user, settings.terms_version, now)
            await SocialIdentity.create(user=user, provider=provider, subject=pending.subject,
                                        email=pending.email, last_used_at=now)
            result = await start_session(ctx, user, use_cookies=use_cookies)
    except IntegrityError as exc:  # a concurrent completion took the identity or the email
        raise _sign_up_refused(TokenProblem.USED) from exc
    log.info("social.signed_up", provider=provider.value, user_id=str(user.id),
             request_id=ctx.request_id)
    return result


async def _request_link(ctx: Context, identity: Identity, user: User, email: str,
                        now: datetime) -> SocialSignIn:
    token = new_secret(LINK_PREFIX)
    mail_token = new_secret(LINK_MAIL_PREFIX)
    async with in_transaction():
        # Only the newest request of this account and provider stays usable.
        await SocialLinkRequest.filter(user_id=user.id, provider=identity.provider,
                                       used_at__isnull=True).delete()
        await SocialLinkRequest.create(
            user=user, provider=identity.provider, subject=identity.subject, email=email,
            token_hash=hash_secret(token), mail_token_hash=hash_secret(mail_token),
            expires_at=now + LINK_TTL)
    services = ctx.services
    try:
        await services.limiter.hit_mail(action="social_link", email=user.email, ip=ctx.client_ip)
    except RateLimited:
        # Enough links were mailed lately: the password still confirms this one.
        log.warning("social.link_mail_rate_limited", user_id=str(user.id),
                    request_id=ctx.request_id)
    else:
        url = messages.link(services.settings.public_url, CONFIRM_LINK_PAGE, mail_token)
        mail = messages.social_link_mail(to=user.email, name=user.name,
                                         provider=identity.provider.label, url=url, ttl=LINK_TTL)
        ctx.after_response(lambda: services.mailer.send(mail),
                           event="mail.social_link_failed", user_id=str(user.id))
    log.info("social.link_requested", provider=identity.provider.value, user_id=str(user.id),
             request_id=ctx.request_id)
    return SocialSignIn(Outcome.LINK_REQUIRED, user, link_token=token)


async def _pending(token_hash: str, *, by_mail: bool) -> SocialLinkRequest:
    query = SocialLinkRequest.filter(mail_token_hash=token_hash) if by_mail \
        else SocialLinkRequest.filter(token_hash=token_hash)
    record = await query.select_related("user").first()
    if record is None:
        raise TokenProblem.INVALID.error()
    if record.used_at is not None:
        raise TokenProblem.USED.error()
    if record.expires_at <= datetime.now(UTC):
        raise TokenProblem.EXPIRED.error()
    return record


async def _link(ctx: Context, record: SocialLinkRequest, *, use_cookies: bool,
                verified_email: bool) -> AuthResult:
    now = datetime.now(UTC)
    try:
        async with in_transaction():
            claimed = await SocialLinkRequest.filter(
                id=record.id, used_at__isnull=True, expires_at__gt=now).update(used_at=now)
            if not claimed:
                raise TokenProblem.USED.error()
            await SocialIdentity.create(user_id=record.user_id, provider=record.provider,
                                        subject=record.subject, email=record.email,
                                        last_used_at=now)
            if verified_email:
                changes: dict[str, object] = {"email_verified": True, "updated_at": now}
                if not record.user.email_verified:
                    # Nobody had proved this mailbox: whoever set the password may have signed
                    # up with someone else's address to wait for its owner (pre-account
                    # takeover). The owner's proof wins: the password and every session end,
                    # and the owner sets a new password by reset if they want one.
                    changes["password_hash"] = None
                    await end_sessions(ctx.services.broker, record.user_id)
                    log.warning("social.unproven_password_cleared",
                                user_id=str(record.user_id), request_id=ctx.request_id)
                await User.filter(id=record.user_id).update(**changes)
                record.user.email_verified = True
            result = await start_session(ctx, record.user, use_cookies=use_cookies)
    except IntegrityError as exc:
        raise Conflict("This identity is already linked to an account, or this account to "
                       "another identity at the provider.", reason="IDENTITY_LINKED") from exc
    log.info("social.linked", provider=record.provider.value, user_id=str(record.user_id),
             by="email" if verified_email else "password", request_id=ctx.request_id)
    return result


async def confirm_link_with_password(ctx: Context, token: str, password: str, *,
                                     use_cookies: bool) -> AuthResult:
    """Link with the account's password; attempts count against the sign-in rate limit."""
    record = await _pending(hash_secret(token.strip()), by_mail=False)
    user = record.user
    await ctx.services.limiter.hit(email=user.email, ip=ctx.client_ip)
    if not verify_password(user.password_hash, password):
        log.warning("social.link_wrong_password", user_id=str(user.id),
                    request_id=ctx.request_id)
        raise Unauthenticated(WRONG_PASSWORD)
    return await _link(ctx, record, use_cookies=use_cookies, verified_email=False)


async def confirm_link_by_email(ctx: Context, token: str, *, use_cookies: bool) -> AuthResult:
    """Link with the mailed token: it proves the mailbox, so the email counts as verified."""
    record = await _pending(hash_secret(token.strip()), by_mail=True)
    return await _link(ctx, record, use_cookies=use_cookies, verified_email=True)


async def linked_identities(user_id: uuid.UUID) -> list[SocialIdentity]:
    return await SocialIdentity.filter(user_id=user_id).order_by("created_at", "id")


async def unlink_identity(ctx: Context, provider: SocialProvider) -> bool:
    """Remove the viewer's identity at `provider`, unless it is their only way to sign in."""
    user = ctx.user
    async with in_transaction():
        # Locks the user's row on PostgreSQL, so two unlinks cannot each leave the other last.
        fresh = await User.select_for_update().get(id=user.id)
        identities = await SocialIdentity.filter(user_id=user.id)
        target = next((i for i in identities if i.provider == provider), None)
        if target is None:
            raise NotFound("linked identity", field="provider")
        if fresh.password_hash is None and len(identities) == 1:
            raise Conflict("This is your only way to sign in: set a password (through a "
                           "password reset) or link another provider first.",
                           reason="LAST_SIGN_IN_METHOD")
        await SocialIdentity.filter(id=target.id).delete()
    log.info("social.unlinked", provider=provider.value, user_id=str(user.id),
             request_id=ctx.request_id)
    return True
