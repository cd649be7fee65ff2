"""Signing up: the form is held as a pending sign-up until a link mailed to the address confirms it.

`signUp` checks the form (BAD_USER_INPUT: nothing it checks depends on other people's
accounts), hashes the password and answers at once, the same way for every address. Only after
the response (a Starlette background task, like `requestPasswordReset`) is the address looked up:

- no account has it: a `SignUpRequest` is stored (only the SHA-256 hash of its token) and the
  address gets a single-use link, `{PUBLIC_URL}/confirm-sign-up?token=rlk_su_...`, valid for
  `SIGN_UP_TTL`. The newest request for an address replaces the older ones (TOKEN_INVALID);
- an account has it: nothing is stored, and the owner gets a mail saying that someone tried to
  sign up with their address, with no link in it.

So neither the answer, nor its timing, nor the rate limits (per IP, and per address for the mail,
which count both cases alike) tell whether an address has an account.

`confirmSignUp` makes the account from the request, its address verified (the link proved the
mailbox), records the acceptance of the terms version the form accepted, and starts a session.
An account that appeared for the address meanwhile (another sign-up, a social sign-in) makes the
token invalid, and nothing is made.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from tortoise.exceptions import IntegrityError

from auth.passwords import check_strength, hash_password
from auth.tokens import hash_secret, new_secret
from core.validation import validate
from engine.context import Context
from mail import messages
from models.accounts import SignUpRequest, User
from realtime.outbox import in_transaction
from resolvers.account_emails import TokenProblem
from resolvers.accounts import MINIMUM_AGE, NAME_MAX, AuthResult, age_on, start_session
from resolvers.policies import record_acceptance
from services import Services

SIGN_UP_TTL = timedelta(hours=48)
SIGN_UP_PREFIX = "rlk_su_"
SIGN_UP_PAGE = "confirm-sign-up"


@dataclass(frozen=True)
class SignUpAnswer:
    """What `signUp` answers: the same for an address with an account and one without."""

    email: str
    message: str


@dataclass(frozen=True)
class _Form:
    """A checked sign-up form, its password already hashed."""

    email: str
    name: str
    password_hash: str
    terms_version: str
    at: datetime


async def sign_up(ctx: Context, *, email: str, password: str, name: str, birth_date: date,
                  accept_terms: bool) -> SignUpAnswer:
    # Every call counts, well formed or not: the budget bounds the work one network can cause.
    await ctx.services.limiter.hit_sign_up(ip=ctx.client_ip)
    today = datetime.now(UTC).date()
    with validate() as check:
        email = check.email("email", email)
        name = check.name("name", name, max_length=NAME_MAX)
        if check.require("birthDate", birth_date <= today, "is in the future"):
            check.require("birthDate", age_on(birth_date, today) >= MINIMUM_AGE,
                          f"you must be at least {MINIMUM_AGE} to sign up")
        check.require("acceptTerms", accept_terms,
                      "the terms and privacy policy must be accepted")
        check.call(check_strength, password,
                   context=[email, *email.split("@"), name, *name.split()])
    await ctx.services.limiter.hit_sign_up_mail(email=email)
    # argon2 runs whoever owns the address, so both answers take as long.
    form = _Form(email=email, name=name, password_hash=hash_password(password),
                 terms_version=ctx.services.settings.terms_version, at=datetime.now(UTC))
    ctx.after_response(lambda: _carry_out(ctx.services, form), event="mail.sign_up_failed")
    return SignUpAnswer(email=email, message=f"Check your inbox: we sent a mail to {email}. "
                                             f"Open the link in it to finish signing up.")


async def _carry_out(services: Services, form: _Form) -> None:
    """After the response: store the request and mail its link, or tell the owner."""
    if await User.filter(email=form.email).exists():
        # Requests made before the account appeared can never be confirmed: drop them.
        await SignUpRequest.filter(email=form.email, used_at__isnull=True).delete()
        await services.mailer.send(messages.sign_up_taken_mail(to=form.email))
        return
    token = new_secret(SIGN_UP_PREFIX)
    async with in_transaction():
        await SignUpRequest.filter(email=form.email, used_at__isnull=True).delete()
        await SignUpRequest.create(
            email=form.email, name=form.name, password_hash=form.password_hash,
            age_check_passed_at=form.at, terms_version=form.terms_version,
            terms_accepted_at=form.at, token_hash=hash_secret(token),
            expires_at=form.at + SIGN_UP_TTL)
    url = messages.link(services.settings.public_url, SIGN_UP_PAGE, token)
    await services.mailer.send(messages.sign_up_mail(to=form.email, url=url, ttl=SIGN_UP_TTL))


async def confirm_sign_up(ctx: Context, *, token: str, use_cookies: bool) -> AuthResult:
    token = token.strip()
    request = await SignUpRequest.filter(token_hash=hash_secret(token)).first() if token else None
    if request is None:
        raise TokenProblem.INVALID.error()
    if request.used_at is not None:
        raise TokenProblem.USED.error()
    now = datetime.now(UTC)
    if request.expires_at <= now:
        raise TokenProblem.EXPIRED.error()
    if await User.filter(email=request.email).exists():
        await SignUpRequest.filter(email=request.email, used_at__isnull=True).delete()
        raise TokenProblem.INVALID.error()
    try:
        async with in_transaction():
            # Use it up (a concurrent use that claimed it first makes this one fail), keeping
            # only what answers a second use: the name and the password hash go.
            claimed = await SignUpRequest.filter(
                id=request.id, used_at__isnull=True, expires_at__gt=now,
            ).update(used_at=now, name="", password_hash="")
            if not claimed:
                raise TokenProblem.USED.error()
            user = await User.create(
                email=request.email, email_verified=True, name=request.name,
                password_hash=request.password_hash,
                age_check_passed_at=request.age_check_passed_at,
                terms_version=request.terms_version, terms_accepted_at=request.terms_accepted_at,
            )
            await record_acceptance(user, request.terms_version, request.terms_accepted_at)
            await SignUpRequest.filter(email=request.email, used_at__isnull=True).delete()
            return await start_session(ctx, user, use_cookies=use_cookies)
    except IntegrityError as exc:  # an account for the address was made meanwhile
        raise TokenProblem.INVALID.error() from exc
