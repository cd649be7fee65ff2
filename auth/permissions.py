"""Named permissions and the roles that grant them: the permission matrix, in one place.

Fields declare the permission they need (`HasPermission(Permission.MEMBERS_WRITE, ...)`); a role
grants a set of permissions; a partner token (a later issue) will carry a subset of them as scopes,
and the same declarations will enforce both. The README's matrix is generated from `ROLE_GRANTS`
and a test walks it over HTTP.
"""

from __future__ import annotations

from enum import StrEnum

from core.errors import BadUserInput
from models.orgs import Role


class Permission(StrEnum):
    ORG_READ = "org:read"
    ORG_WRITE = "org:write"
    MEMBERS_READ = "members:read"
    MEMBERS_INVITE = "members:invite"
    MEMBERS_WRITE = "members:write"
    OWNERSHIP_TRANSFER = "ownership:transfer"
    ACTIVITY_READ = "activity:read"
    LEADS_READ = "leads:read"
    LEADS_WRITE = "leads:write"
    LEADS_DELETE = "leads:delete"
    LEADS_EXPORT = "leads:export"
    NOTES_MODERATE = "notes:moderate"
    BILLING_READ = "billing:read"
    BILLING_WRITE = "billing:write"
    TOKENS_WRITE = "tokens:write"
    APPS_AUTHORIZE = "apps:authorize"
    PRIVACY_MANAGE = "privacy:manage"
    FORMS_READ = "forms:read"
    FORMS_WRITE = "forms:write"
    ORG_EXPORT = "org:export"
    ORG_DELETE = "org:delete"
    ORG_KEYS = "org:keys"
    DOMAINS_MANAGE = "domains:manage"
    WEBHOOKS_READ = "webhooks:read"
    WEBHOOKS_WRITE = "webhooks:write"
    AI_USE = "ai:use"
    AI_USAGE = "ai:usage"
    AI_MANAGE = "ai:manage"
    USAGE_READ = "usage:read"
    SUPPORT_ACCESS = "support:access"

    @property
    def description(self) -> str:
        return DESCRIPTIONS[self]


DESCRIPTIONS: dict[Permission, str] = {
    Permission.ORG_READ: "See when the organization was created, and your role and "
                         "permissions in it. Its id, name and slug need no permission: any "
                         "member, API token or partner app of the organization reads them.",
    Permission.ORG_WRITE: "Rename the organization or change its slug.",
    Permission.MEMBERS_READ: "List the members and their roles.",
    Permission.MEMBERS_INVITE: "Invite people, list, resend and revoke pending invitations.",
    Permission.MEMBERS_WRITE: "Change members' roles and remove members.",
    Permission.OWNERSHIP_TRANSFER: "Hand the organization's ownership to another member.",
    Permission.ACTIVITY_READ: "Read the organization's activity log.",
    Permission.LEADS_READ: "Read leads and their notes.",
    Permission.LEADS_WRITE: "Create, edit, assign and import leads, and add notes.",
    Permission.LEADS_DELETE: "Delete any lead (a lead's owner may delete it with leads:write).",
    Permission.LEADS_EXPORT: "Export leads as CSV.",
    Permission.NOTES_MODERATE: "Edit or delete anyone's notes (authors may edit their own).",
    Permission.BILLING_READ: "See the plan, its limits and usage, the subscription and invoices.",
    Permission.BILLING_WRITE: "Subscribe through Stripe Checkout and open the billing portal.",
    Permission.TOKENS_WRITE: "Create, list and revoke the organization's API tokens.",
    Permission.APPS_AUTHORIZE: "Authorize partner apps (OAuth) for the organization, list and "
                               "revoke them.",
    Permission.PRIVACY_MANAGE: "Answer a person's privacy requests about the leads: export or "
                               "erase everything about them, restrict processing of a lead.",
    Permission.FORMS_READ: "See the organization's lead forms and what was submitted through "
                           "them (held and spam submissions included).",
    Permission.FORMS_WRITE: "Create, change, pause and delete lead forms, and release or "
                            "discard their submissions.",
    Permission.ORG_EXPORT: "Export all the organization's data (JSON and CSV in a ZIP).",
    Permission.ORG_DELETE: "Schedule the organization's deletion, or cancel it in the grace "
                           "period.",
    Permission.ORG_KEYS: "Rotate the organization's data encryption key (its data is "
                         "re-encrypted under the new key in the background).",
    Permission.DOMAINS_MANAGE: "Add, check, list and remove the custom domains that serve the "
                               "organization's public pages.",
    Permission.WEBHOOKS_READ: "List the organization's webhook endpoints and read their "
                              "delivery log.",
    Permission.WEBHOOKS_WRITE: "Create, change, enable, disable and delete webhook endpoints, "
                               "rotate their secrets, redeliver and replay messages.",
    Permission.AI_USE: "Use the AI features on leads (summaries, next steps, email drafts) "
                       "once the organization turned them on, and read their results; each "
                       "call spends the organization's AI credits.",
    Permission.AI_USAGE: "See the organization's AI usage: credits spent this month and every "
                         "call's provenance (provider, model, prompt version, fields sent, "
                         "tokens, credits).",
    Permission.AI_MANAGE: "Turn the organization's AI features on or off.",
    Permission.USAGE_READ: "See the organization's API usage: requests, errors and query cost "
                           "per day, per kind of client and per API token or partner app, the "
                           "top operations, and the page views and client errors its people's "
                           "apps reported.",
    Permission.SUPPORT_ACCESS: "Grant Relleks staff read access to the organization for up to "
                               "7 days from a support ticket, revoke it, and see every read "
                               "made under it.",
}

_VIEWER = frozenset({Permission.ORG_READ, Permission.MEMBERS_READ, Permission.LEADS_READ})
_MEMBER = _VIEWER | {Permission.LEADS_WRITE, Permission.LEADS_EXPORT, Permission.FORMS_READ,
                     Permission.AI_USE}
_ADMIN = _MEMBER | {Permission.ORG_WRITE, Permission.MEMBERS_INVITE, Permission.MEMBERS_WRITE,
                    Permission.ACTIVITY_READ, Permission.LEADS_DELETE, Permission.NOTES_MODERATE,
                    Permission.BILLING_READ, Permission.TOKENS_WRITE,
                    Permission.APPS_AUTHORIZE,
                    Permission.PRIVACY_MANAGE, Permission.FORMS_WRITE,
                    Permission.DOMAINS_MANAGE, Permission.WEBHOOKS_READ,
                    Permission.WEBHOOKS_WRITE, Permission.AI_USAGE, Permission.AI_MANAGE,
                    Permission.USAGE_READ}
# ADMINs read billing (they manage members within the plan's limits); only OWNERs pay.
_OWNER = _ADMIN | {Permission.OWNERSHIP_TRANSFER, Permission.BILLING_WRITE,
                   Permission.ORG_EXPORT, Permission.ORG_DELETE, Permission.ORG_KEYS,
                   Permission.SUPPORT_ACCESS}

ROLE_GRANTS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: _VIEWER,
    Role.MEMBER: frozenset(_MEMBER),
    Role.ADMIN: frozenset(_ADMIN),
    Role.OWNER: frozenset(_OWNER),
}

# Permissions only a person may use: an API token can never carry them as scopes. Handing over
# ownership demotes the person doing it, paying opens Stripe's pages for a person, and a token
# that could mint tokens (or authorize apps, which mint OAuth tokens) would outlive its own
# revocation. Privacy requests are answered by a person accountable for them: a leaked token must
# not be able to pull everything the org holds about anyone by email, erase people irreversibly,
# or lift a restriction meant to keep their data away from integrations. Exporting or deleting
# the whole organization is for its OWNER in person: a leaked token must not carry the org away
# or end it. Turning the AI features on sends lead data to a third party: a person decides it.
PERSON_ONLY: frozenset[Permission] = frozenset({
    Permission.OWNERSHIP_TRANSFER, Permission.BILLING_WRITE, Permission.TOKENS_WRITE,
    Permission.APPS_AUTHORIZE, Permission.PRIVACY_MANAGE, Permission.ORG_EXPORT,
    Permission.ORG_DELETE, Permission.AI_MANAGE, Permission.ORG_KEYS,
    Permission.SUPPORT_ACCESS})
TOKEN_SCOPES: tuple[Permission, ...] = tuple(p for p in Permission if p not in PERSON_ONLY)
"""The scopes an organization API token or an OAuth grant may carry, in declaration order."""


def named_scopes(names: list[str]) -> list[Permission]:
    """Scope names (of a token or an app) as permissions, each once, in declaration order;
    BAD_USER_INPUT on `scopes` when none is given or a name is unknown."""
    known = {p.value: p for p in Permission}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise BadUserInput.field("scopes", f"unknown scope(s): {', '.join(unknown)} "
                                           "(the `scopes` query lists them)")
    if not names:
        raise BadUserInput.field("scopes", "give at least one scope")
    return sorted({known[name] for name in names}, key=list(Permission).index)


def refuse_person_only(scopes: list[Permission], holder: str) -> None:
    """BAD_USER_INPUT on `scopes` naming those that only a person may use; `holder` says who
    cannot, e.g. "a token cannot carry it"."""
    person_only = [p.value for p in scopes if p in PERSON_ONLY]
    if person_only:
        raise BadUserInput.field("scopes", f"only a person may use {', '.join(person_only)}: "
                                           f"{holder}")

