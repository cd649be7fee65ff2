"""Accounts in the API: the viewer, sign-up and sign-in, sessions, profile and password."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import TYPE_CHECKING, Annotated, Self, cast

import strawberry
from strawberry import relay

from engine.fields import Connection, Info, ModelNode, decode_id
from engine.permissions import IsAuthenticated, SeesPeople, requires
from models import accounts as models
from resolvers import accounts as resolvers
from resolvers import orgs as org_resolvers
from resolvers import sign_ups as sign_up_resolvers

VIEWER_ONLY = ("Only when the request is signed in as this person: {empty} otherwise, as in the "
               "answer of `logIn` and the other mutations that sign in, or of `verifyEmail`.")
"""The end of the description of each field of `Me` that only its person sees (`is_viewer`)."""


def is_viewer(root: models.User, info: Info) -> bool:
    """Whether `root` is the signed-in person (a person's own data is shown to them alone)."""
    viewer = info.context.viewer.user
    return viewer is not None and viewer.id == root.id


@strawberry.type(description="The fields of a person anyone who reaches them reads: `User`'s and "
                             "`Me`'s. Not in the schema itself.")
class PersonFields:
    name: str = strawberry.field(description="Display name.")
    email: str = strawberry.field(
        description="Sign-in email, lower-cased. Needs `members:read` wherever the user is "
                    "reached (a lead's owner, a note's author, an event's actor...): an API "
                    "token or partner app without that scope gets FORBIDDEN here, naming it, "
                    "and the user comes back null; `name` needs no scope of its own.",
        extensions=[requires(SeesPeople())])


@strawberry.type(description="A person's photo. Not in the schema itself.")
class AvatarFields:
    @strawberry.field(description="URL of the profile photo (256x256 WebP), or null.")
    def avatar_url(self, root: strawberry.Parent[models.User], info: Info) -> str | None:
        key = root.avatar_key
        return info.context.services.storage.url(key) if key else None


@strawberry.type(description="A person with a Relleks login, as the people who share an "
                             "organization with them see them. What only the person sees of "
                             "their own account is on `Me` (`me`).")
class User(ModelNode, PersonFields, AvatarFields):
    model = models.User

    id: relay.NodeID[str]

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str],
                            required: bool = False) -> list:
        """The viewer, and people who share an organization with them."""
        visible = await org_resolvers.visible_users(info.context, node_ids)
        return [visible.get(node_id) for node_id in node_ids]


@strawberry.type(description="The id of `Me`. Not in the schema itself.")
class MeId:
    @strawberry.field(description="Your `User` id, the one you have wherever others reach "
                                  "you (a membership's `user`, a lead's `owner`...): "
                                  "`node(id:)` answers it with your `User`. `Me` is no `Node`: "
                                  "read it through `me`.")
    def id(self, root: strawberry.Parent[models.User]) -> relay.GlobalID:
        return relay.GlobalID("User", str(root.id))


@strawberry.type(description="A person's account, as only they see it. Not in the schema itself.")
class AccountFields:
    email_verified: bool = strawberry.field(
        description="Whether you proved you receive mail at `email` (`requestEmailVerification`).")
    created_at: datetime.datetime = strawberry.field(description="When the account was created.")


@strawberry.type(description="The fields of `Me` this module holds; the other domains add theirs "
                             "and `schema/composition.py` composes `Me`. Not in the schema itself.")
class MeBase(MeId, PersonFields, AccountFields, AvatarFields):
    pass


if TYPE_CHECKING:
    # What type checkers see of the composed type. At run time the name stays undefined here,
    # so that Strawberry follows the lazy reference to `schema.composition`, which this module
    # never imports (the composition builds on it).
    Me = MeBase


@strawberry.type(name="Session", description="A signed-in device of the viewer.")
class SessionType(ModelNode):
    model = models.Session

    id: relay.NodeID[str]
    created_at: datetime.datetime = strawberry.field(description="When the user signed in.")
    last_used_at: datetime.datetime = strawberry.field(
        description="When the session was last used (to the minute).")
    ip: str | None = strawberry.field(description="IP address it was last used from.")
    user_agent: str | None = strawberry.field(description="The client's User-Agent.")

    @strawberry.field(description="Whether this is the session making this request.")
    def current(self, root: strawberry.Parent[models.Session], info: Info) -> bool:
        session = info.context.viewer.session
        return session is not None and session.id == root.id

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str],
                            required: bool = False) -> list:
        sessions = {str(s.id): s for s in await resolvers.active_sessions(info.context)} \
            if info.context.viewer.user else {}
        return [sessions.get(node_id) for node_id in node_ids]


COOKIE_TOKENS = ("With `useCookies` the tokens are set as HttpOnly cookies instead, and "
                 "`accessToken`/`refreshToken` are null.")


@strawberry.type(description="What signing in yields (the fields every sign-in payload has).")
class SignedInPayload:
    """The fields of every mutation that signs in (`logIn`, `confirmSignUp`, `refreshSession`,
    `confirmSocialLink`, `confirmSocialLinkByEmail`): each has its own payload type deriving from
    this one, so that one of them can gain a field without the others. Not in the schema itself."""

    access_token: str | None = strawberry.field(
        description="Short-lived JWT: send it as `Authorization: Bearer <token>`.")
    refresh_token: str | None = strawberry.field(
        description="Opaque, single-use token for `refreshSession`; store it safely.")
    expires_at: datetime.datetime = strawberry.field(description="When the access token expires.")
    user: Annotated[Me, strawberry.lazy("schema.composition")] = strawberry.field(
        description="The account now signed in.")

    @classmethod
    def of(cls, result: resolvers.AuthResult) -> Self:
        return cls(access_token=result.access_token, refresh_token=result.refresh_token,
                   expires_at=result.expires_at, user=cast("Me", result.user))


@strawberry.type(description=f"The result of `logIn`. {COOKIE_TOKENS}")
class LogInPayload(SignedInPayload):
    pass


@strawberry.type(description=f"The result of `confirmSignUp`: the new account, signed in. "
                             f"{COOKIE_TOKENS}")
class ConfirmSignUpPayload(SignedInPayload):
    pass


@strawberry.type(description="The result of `refreshSession`: new tokens for the same session. "
                             "When the refresh cookie was used, the new tokens are set as "
                             "cookies again, and `accessToken`/`refreshToken` are null.")
class RefreshSessionPayload(SignedInPayload):
    pass


@strawberry.input(description="A new account, made once its email address is confirmed.")
class SignUpInput:
    email: str = strawberry.field(
        description="Where the link that finishes signing up is mailed; it becomes the "
                    "account's sign-in email, lower-cased.")
    password: str = strawberry.field(
        description="10 to 256 characters; common or guessable passwords are refused.")
    name: str = strawberry.field(
        description="Your display name: 1 to 200 characters, runs of whitespace become one space.")
    birth_date: datetime.date = strawberry.field(
        description="Used only to check that you are at least 16; it is not stored.")
    accept_terms: bool = strawberry.field(
        description="You accept the current terms of service and privacy policy.")
    use_cookies: bool = strawberry.field(
        default=False, description="Ignored: signUp signs no one in.",
        deprecation_reason="signUp signs no one in: pass `useCookies` to `confirmSignUp`.")


@strawberry.type(description="The answer to signUp, the same whether or not the address already "
                             "has an account: only the mail that goes to the address differs.")
class SignUpPayload:
    email: str = strawberry.field(
        description="The address the mail went to, as it will be stored (lower-cased).")
    message: str = strawberry.field(
        description="What to tell the person: to open the mail we sent.")


@strawberry.input(description="The token of the link mailed by signUp.")
class ConfirmSignUpInput:
    token: str = strawberry.field(
        description="The `token` query parameter of the link, "
                    "`{PUBLIC_URL}/confirm-sign-up?token=...`.")
    use_cookies: bool = strawberry.field(
        default=False, description="Set the tokens as HttpOnly cookies (browser clients); "
                                   "cookie-authenticated mutations then need the CSRF header.")


@strawberry.input(description="Email and password.")
class LogInInput:
    email: str = strawberry.field(description="The account's sign-in email (any case).")
    password: str = strawberry.field(description="The account's password.")
    use_cookies: bool = strawberry.field(
        default=False, description="Set the tokens as HttpOnly cookies (browser clients); "
                                   "cookie-authenticated mutations then need the CSRF header.")


@strawberry.input(description="Fields to change; absent fields stay as they are.")
class UpdateProfileInput:
    # `str | None` so that null reaches us and gets a BAD_USER_INPUT naming the field.
    name: strawberry.Maybe[str | None] = strawberry.field(
        description="New display name (1 to 200 characters); leave it out to keep the name.")


@strawberry.input(description="The current password, to prove it is you, and the new one.")
class ChangePasswordInput:
    current_password: str = strawberry.field(description="The password you sign in with now.")
    new_password: str = strawberry.field(
        description="10 to 256 characters; common or guessable passwords are refused.")


@strawberry.input(description="The refresh token to trade, or nothing to use the refresh cookie.")
class RefreshSessionInput:
    refresh_token: str | None = strawberry.field(
        default=None, description="The `refreshToken` of the last sign-in or refresh. Leave it "
                                  "out (send `input: {}`) to use the refresh cookie; the new "
                                  "tokens then go into cookies too.")


@strawberry.type(description="The result of `logOut`.")
class LogOutPayload:
    ended_session_id: strawberry.ID = strawberry.field(
        description="The global id of the session that ended (the one making the request); "
                    "its cookies, if any, are cleared.")


@strawberry.type(description="The result of `logOutEverywhere`.")
class LogOutEverywherePayload:
    ended_sessions: int = strawberry.field(
        description="How many of your sessions ended, this one included (0 when none was "
                    "still active).")


@strawberry.input(description="The session to end.")
class RevokeSessionInput:
    id: relay.GlobalID = strawberry.field(
        description="The session's id, from `sessions` (the current one too: then it is "
                    "`logOut` without clearing cookies).")


@strawberry.type(description="The result of `revokeSession`.")
class RevokeSessionPayload:
    deleted_id: strawberry.ID = strawberry.field(
        description="The id of the session that ended; it no longer signs anyone in.")


@strawberry.type(description="The result of `updateProfile`.")
class UpdateProfilePayload:
    user: Annotated[Me, strawberry.lazy("schema.composition")] = strawberry.field(
        description="Your account, as changed.")


@strawberry.type(description="The result of `changePassword`.")
class ChangePasswordPayload:
    user: Annotated[Me, strawberry.lazy("schema.composition")] = strawberry.field(
        description="Your account, with its new password; every other session of it ended.")


@strawberry.type
class AccountQueries:
    @strawberry.field(description="You, the signed-in person. Null, with an UNAUTHENTICATED error, "
                                  "when the request has no valid credential of a person; other "
                                  "root fields of the same request still answer.",
                      extensions=[requires(IsAuthenticated())])
    def me(self, info: Info) -> Annotated[Me, strawberry.lazy("schema.composition")] | None:
        return cast("Me | None", info.context.user)

    @relay.connection(Connection[SessionType], description="The viewer's active sessions, "
                      "most recently used first.", extensions=[requires(IsAuthenticated())])
    async def sessions(self, info: Info) -> list[SessionType]:
        return cast("list[SessionType]", await resolvers.active_sessions(info.context))


@strawberry.type
class AccountMutations:
    @strawberry.mutation(description=(
        "Start signing up: the account is made when the link mailed to `email`, "
        "`{PUBLIC_URL}/confirm-sign-up?token=...`, is passed to `confirmSignUp` within "
        f"{sign_up_resolvers.SIGN_UP_TTL.days * 24} hours (a newer signUp for the address "
        "replaces the link). No session yet. The answer is the same whether or not the address "
        "has an account: if it has one, nothing is made and its owner is mailed that someone "
        "tried to sign up with it. A bad email, a weak password, an age under 16 or terms not "
        "accepted give BAD_USER_INPUT naming the field. Rate limited per IP address "
        "(`SIGNUP_RATE_PER_IP`) and per address mailed (RATE_LIMITED with `retryAfter`)."))
    async def sign_up(self, info: Info, input: SignUpInput) -> SignUpPayload:
        answer = await sign_up_resolvers.sign_up(
            info.context, email=input.email, password=input.password, name=input.name,
            birth_date=input.birth_date, accept_terms=input.accept_terms)
        return SignUpPayload(email=answer.email, message=answer.message)

    @strawberry.mutation(description=(
        "Finish signing up with the token of the link signUp mailed: the account is made, its "
        "email verified and its acceptance of the terms recorded, and you are signed in (as "
        "with `logIn`). The token works once. A used, expired or unknown token gives "
        "BAD_USER_INPUT naming `token`, with `extensions.reason` TOKEN_USED, TOKEN_EXPIRED or "
        "TOKEN_INVALID; so does one whose address got an account meanwhile (nothing is made)."))
    async def confirm_sign_up(self, info: Info, input: ConfirmSignUpInput
                              ) -> ConfirmSignUpPayload:
        return ConfirmSignUpPayload.of(await sign_up_resolvers.confirm_sign_up(
            info.context, token=input.token, use_cookies=input.use_cookies))

    @strawberry.mutation(description="Sign in with email and password. Attempts are rate "
                                     "limited per account and per IP address.")
    async def log_in(self, info: Info, input: LogInInput) -> LogInPayload:
        return LogInPayload.of(await resolvers.log_in(info.context, email=input.email,
                                                      password=input.password,
                                                      use_cookies=input.use_cookies))

    @strawberry.mutation(description="Trade a refresh token for new tokens. The old refresh token "
                                     "stops working; using it again ends the session. Without "
                                     "`refreshToken` (`input: {}`), the refresh cookie is used.")
    async def refresh_session(self, info: Info,
                              input: RefreshSessionInput) -> RefreshSessionPayload:
        return RefreshSessionPayload.of(
            await resolvers.refresh_session(info.context, input.refresh_token))

    @strawberry.mutation(description="End the current session and clear its cookies.",
                         extensions=[requires(IsAuthenticated())])
    async def log_out(self, info: Info) -> LogOutPayload:
        session_id = info.context.session.id
        await resolvers.log_out(info.context)
        return LogOutPayload(ended_session_id=strawberry.ID(
            relay.to_base64("Session", str(session_id))))

    @strawberry.mutation(description="End every session of the viewer, this one included, and "
                                     "clear this one's cookies.",
                         extensions=[requires(IsAuthenticated())])
    async def log_out_everywhere(self, info: Info) -> LogOutEverywherePayload:
        return LogOutEverywherePayload(
            ended_sessions=await resolvers.log_out_everywhere(info.context))

    @strawberry.mutation(description="End one of the viewer's sessions. An id that is not one of "
                                     "your active sessions is NOT_FOUND (naming `id`).",
                         extensions=[requires(IsAuthenticated())])
    async def revoke_session(self, info: Info, input: RevokeSessionInput) -> RevokeSessionPayload:
        await resolvers.revoke_session(info.context, decode_id(input.id, SessionType))
        return RevokeSessionPayload(deleted_id=strawberry.ID(str(input.id)))

    @strawberry.mutation(description="Change the viewer's profile.",
                         extensions=[requires(IsAuthenticated())])
    async def update_profile(self, info: Info, input: UpdateProfileInput) -> UpdateProfilePayload:
        changes = {"name": input.name.value} if input.name is not None else {}
        return UpdateProfilePayload(
            user=cast("Me", await resolvers.update_profile(info.context, changes)))

    @strawberry.mutation(description="Change the password; every other session ends. Each "
                                     "try spends one of your account's sign-in attempts "
                                     "(RATE_LIMITED with `retryAfter` once they are spent).",
                         extensions=[requires(IsAuthenticated())])
    async def change_password(self, info: Info,
                              input: ChangePasswordInput) -> ChangePasswordPayload:
        await resolvers.change_password(info.context, current_password=input.current_password,
                                        new_password=input.new_password)
        return ChangePasswordPayload(user=cast("Me", info.context.user))
