"""Email verification and password reset: single-use links sent by email.

The links open pages of the web client, `{PUBLIC_URL}/verify-email?token=...` and
`{PUBLIC_URL}/reset-password?token=...`, which pass the token on to `verifyEmail` and
`resetPassword`. Without `SMTP_URL` (`make run`) the mail, link included, is printed to standard
error as a readable block.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, cast

import strawberry

from engine.fields import Info
from engine.permissions import IsAuthenticated, requires
from mail.messages import hours
from resolvers import account_emails as resolvers

if TYPE_CHECKING:
    from schema.accounts import MeBase as Me  # the composed `Me`, as type checkers see it

VERIFY_FOR = hours(resolvers.VERIFY_EMAIL_TTL)
RESET_FOR = hours(resolvers.RESET_PASSWORD_TTL)
TOKEN_ERRORS = ("A used, expired or unknown token gives BAD_USER_INPUT naming `token`, with "
                "`extensions.reason` TOKEN_USED, TOKEN_EXPIRED or TOKEN_INVALID.")

TOKEN = "The `token` query parameter of the link in the email."


@strawberry.type(description="The result of `requestEmailVerification`.")
class RequestEmailVerificationPayload:
    sent: bool = strawberry.field(
        description="True when a verification link was mailed; false, sending nothing, when "
                    "the address is already verified.")


@strawberry.input(description="The token of a verification link.")
class VerifyEmailInput:
    token: str = strawberry.field(description=TOKEN)


@strawberry.type(description="The result of `verifyEmail`.")
class VerifyEmailPayload:
    user: Annotated[Me, strawberry.lazy("schema.composition")] = strawberry.field(
        description="The token's account, its email address now verified.")


@strawberry.input(description="The address to send a password-reset link to.")
class RequestPasswordResetInput:
    email: str = strawberry.field(description="The email address of the account.")


@strawberry.type(description="The result of `requestPasswordReset`.")
class RequestPasswordResetPayload:
    accepted: bool = strawberry.field(
        description="Always true: the request was taken. It does not say whether an account "
                    "has the address (only an existing account gets a mail).")


@strawberry.input(description="The token of a reset link and the new password.")
class ResetPasswordInput:
    token: str = strawberry.field(description=TOKEN)
    new_password: str = strawberry.field(
        description="10 to 256 characters; common or guessable passwords are refused.")


@strawberry.type(description="The result of `resetPassword`.")
class ResetPasswordPayload:
    password_changed: bool = strawberry.field(
        description="Always true: the account has its new password and every session of it "
                    "ended; sign in with the new password.")


@strawberry.type
class AccountEmailMutations:
    @strawberry.mutation(
        description="Email the viewer a link that proves they receive mail at their address: "
                    "`{PUBLIC_URL}/verify-email?token=...`, usable once within "
                    f"{VERIFY_FOR}. `sent` is true when the mail was sent, and false, sending "
                    "nothing, when the address is already verified (as it is for every "
                    "account made through confirmSignUp). Rate limited per address and per "
                    "IP address (RATE_LIMITED).",
        extensions=[requires(IsAuthenticated())])
    async def request_email_verification(self, info: Info) -> RequestEmailVerificationPayload:
        return RequestEmailVerificationPayload(
            sent=await resolvers.request_email_verification(info.context))

    @strawberry.mutation(
        description="Mark the email address of the token's account as verified and use the "
                    "token up; returns that account. Needs no session: the link may be opened "
                    f"on another device. {TOKEN_ERRORS}")
    async def verify_email(self, info: Info, input: VerifyEmailInput) -> VerifyEmailPayload:
        return VerifyEmailPayload(
            user=cast("Me", await resolvers.verify_email(info.context, input.token)))

    @strawberry.mutation(
        description="Email a password-reset link, `{PUBLIC_URL}/reset-password?token=...`, "
                    f"usable once within {RESET_FOR}; it replaces older reset links. "
                    "For a well-formed address the answer is the same whether or not an account "
                    "has it, and only an existing account gets a mail. Rate limited per address "
                    "and per IP address (RATE_LIMITED).")
    async def request_password_reset(self, info: Info, input: RequestPasswordResetInput
                                     ) -> RequestPasswordResetPayload:
        return RequestPasswordResetPayload(
            accepted=await resolvers.request_password_reset(info.context, input.email))

    @strawberry.mutation(
        description="Choose a new password with the token of a reset link. Every session of "
                    "the account ends (sign in again), and the email address counts as verified. "
                    f"{TOKEN_ERRORS} A weak password gives BAD_USER_INPUT naming "
                    "`newPassword` and leaves the token usable.")
    async def reset_password(self, info: Info, input: ResetPasswordInput) -> ResetPasswordPayload:
        return ResetPasswordPayload(password_changed=await resolvers.reset_password(
            info.context, input.token, input.new_password))
