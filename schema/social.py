"""Social sign-in in the API: the `socialProviders` list, confirming a pending link, the viewer's
linked identities (`me.linkedIdentities`, `MeSocialFields`) and unlinking one.

The sign-in itself happens in the browser, at `/auth/{provider}/start` (`web/social.py`);
docs/social-sign-in.md describes the whole.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Annotated, cast

import strawberry

from engine.fields import Info, described_enum
from engine.permissions import IsAuthenticated, requires
from models import accounts as account_models
from models import social as models
from resolvers import social as resolvers
from schema.accounts import COOKIE_TOKENS, VIEWER_ONLY, SignedInPayload, is_viewer

if TYPE_CHECKING:
    from schema.accounts import MeBase as Me  # the composed `Me`, as type checkers see it

SocialProviderName = models.SocialProvider
described_enum(
    models.SocialProvider, name="SocialProviderName",
    description="A provider people can sign in with.",
    values={models.SocialProvider.GOOGLE: "Google (OpenID Connect).",
            models.SocialProvider.GITHUB: "GitHub (OAuth)."})


@strawberry.type(name="SocialProvider",
                 description="A provider to sign in with, and whether this server offers it.")
class SocialProviderInfo:
    name: SocialProviderName = strawberry.field(description="Which provider.")
    label: str = strawberry.field(description="Its name as people write it, e.g. `GitHub`.")
    enabled: bool = strawberry.field(
        description="Whether this server is configured for it (a client id and secret).")
    start_url: str | None = strawberry.field(
        description="Where to send the browser to sign in, adding `?redirect=<URL of your app "
                    "to come back to>`; null when disabled. The browser comes back to that URL "
                    "with `social=signed_in|sign_up_required|link_required` or "
                    "`social_error=<code>`.")


@strawberry.type(description="An account at a provider that signs the viewer in.")
class LinkedIdentity:
    provider: SocialProviderName = strawberry.field(description="The provider.")
    email: str = strawberry.field(description="The email the provider gave when last used.")
    linked_at: datetime.datetime = strawberry.field(description="When it was linked.")
    last_used_at: datetime.datetime | None = strawberry.field(
        description="When it last signed the viewer in; null: never since linking.")

    @classmethod
    def of(cls, row: models.SocialIdentity) -> LinkedIdentity:
        return cls(provider=row.provider, email=row.email,
                   linked_at=row.created_at, last_used_at=row.last_used_at)


@strawberry.type(description="What `Me` holds of social sign-in (`schema/composition.py` "
                             "composes `Me`). Not in the schema itself.")
class MeSocialFields:
    @strawberry.field(description="The provider accounts (Google, GitHub) that sign you in. "
                                  "A list, not a connection: at most one per provider, so "
                                  "never more than two. " + VIEWER_ONLY.format(empty="null"))
    async def linked_identities(self, root: strawberry.Parent[account_models.User],
                                info: Info) -> list[LinkedIdentity] | None:
        if not is_viewer(root, info):
            return None
        return [LinkedIdentity.of(row) for row in await resolvers.linked_identities(root.id)]


@strawberry.input(description="Confirm a pending link with the password of the account.")
class ConfirmSocialLinkInput:
    token: str = strawberry.field(
        description="The `link_token` the sign-in redirect carried in its fragment.")
    password: str = strawberry.field(description="The password of the Relleks account.")
    use_cookies: bool = strawberry.field(
        default=False, description="Set the tokens as HttpOnly cookies (browser clients).")


@strawberry.input(description="Confirm a pending link with the token of the emailed link.")
class ConfirmSocialLinkByEmailInput:
    token: str = strawberry.field(
        description="The `token` of the `/confirm-social-link?token=...` link in the email.")
    use_cookies: bool = strawberry.field(
        default=False, description="Set the tokens as HttpOnly cookies (browser clients).")


@strawberry.type(description=f"The result of `confirmSocialLink`: the identity is linked and you "
                             f"are signed in. {COOKIE_TOKENS}")
class ConfirmSocialLinkPayload(SignedInPayload):
    pass


@strawberry.type(description=f"The result of `confirmSocialLinkByEmail`: the identity is linked "
                             f"and you are signed in. {COOKIE_TOKENS}")
class ConfirmSocialLinkByEmailPayload(SignedInPayload):
    pass


@strawberry.input(description="Complete a social sign-up: the age confirmation and the terms, "
                              "as `signUp` asks for them.")
class CompleteSocialSignUpInput:
    token: str = strawberry.field(
        description="The `sign_up_token` the sign-in redirect carried in its fragment "
                    "(`?social=sign_up_required`); valid for 15 minutes, once.")
    birth_date: datetime.date = strawberry.field(
        description="Used only to check that you are at least 16; it is not stored.")
    accept_terms: bool = strawberry.field(
        description="You accept the current terms of service and privacy policy.")
    terms_version: str | None = strawberry.field(
        default=None, description="The version you were shown (`currentPolicy.version`): when "
                                  "given and no longer current, BAD_USER_INPUT naming "
                                  "`termsVersion`, and nothing is created.")
    use_cookies: bool = strawberry.field(
        default=False, description="Set the tokens as HttpOnly cookies (browser clients).")


@strawberry.type(description=f"The result of `completeSocialSignUp`: the account is made with the "
                             f"identity linked, and you are signed in. {COOKIE_TOKENS}")
class CompleteSocialSignUpPayload(SignedInPayload):
    pass


@strawberry.input(description="The provider whose identity to unlink.")
class UnlinkIdentityInput:
    provider: SocialProviderName = strawberry.field(
        description="The provider; NOT_FOUND (naming `provider`) when none of yours is linked.")


@strawberry.type(description="The result of `unlinkIdentity`.")
class UnlinkIdentityPayload:
    provider: SocialProviderName = strawberry.field(
        description="The provider whose identity was unlinked: it no longer signs you in.")
    user: Annotated[Me, strawberry.lazy("schema.composition")] = strawberry.field(
        description="Your account, without that identity.")


@strawberry.type
class SocialQueries:
    @strawberry.field(description="The providers to sign in with, enabled or not.")
    def social_providers(self, info: Info) -> list[SocialProviderInfo]:
        social = info.context.services.social
        return [SocialProviderInfo(
            name=provider, label=provider.label,
            enabled=social.enabled(provider),
            start_url=social.start_url(provider) if social.enabled(provider) else None,
        ) for provider in models.SocialProvider]


@strawberry.type
class SocialMutations:
    @strawberry.mutation(description="Link a provider identity to the account whose email it "
                                     "shares, proving the account is yours with its password, "
                                     "and sign in. Attempts are rate limited like `logIn`.")
    async def confirm_social_link(self, info: Info,
                                  input: ConfirmSocialLinkInput) -> ConfirmSocialLinkPayload:
        return ConfirmSocialLinkPayload.of(await resolvers.confirm_link_with_password(
            info.context, input.token, input.password, use_cookies=input.use_cookies))

    @strawberry.mutation(description="Link a provider identity to the account whose email it "
                                     "shares, with the emailed link (it proves the mailbox, so "
                                     "the email counts as verified), and sign in.")
    async def confirm_social_link_by_email(self, info: Info,
                                           input: ConfirmSocialLinkByEmailInput
                                           ) -> ConfirmSocialLinkByEmailPayload:
        return ConfirmSocialLinkByEmailPayload.of(await resolvers.confirm_link_by_email(
            info.context, input.token, use_cookies=input.use_cookies))

    @strawberry.mutation(description="Make the account a social sign-in left pending "
                                     "(`?social=sign_up_required`), with the identity linked, "
                                     "once you confirmed your age and accepted the terms, and "
                                     "sign in. The token: TOKEN_INVALID, TOKEN_EXPIRED (sign in "
                                     "with the provider again) or TOKEN_USED. Counts against "
                                     "the sign-up rate limit.")
    async def complete_social_sign_up(self, info: Info, input: CompleteSocialSignUpInput
                                      ) -> CompleteSocialSignUpPayload:
        return CompleteSocialSignUpPayload.of(await resolvers.complete_sign_up(
            info.context, token=input.token, birth_date=input.birth_date,
            accept_terms=input.accept_terms, terms_version=input.terms_version,
            use_cookies=input.use_cookies))

    @strawberry.mutation(description="Unlink the viewer's identity at a provider. CONFLICT "
                                     "(reason LAST_SIGN_IN_METHOD) when it is the only way left "
                                     "to sign in: set a password or link another provider first.",
                         extensions=[requires(IsAuthenticated())])
    async def unlink_identity(self, info: Info,
                              input: UnlinkIdentityInput) -> UnlinkIdentityPayload:
        await resolvers.unlink_identity(info.context, input.provider)
        return UnlinkIdentityPayload(provider=input.provider,
                                     user=cast("Me", info.context.user))
