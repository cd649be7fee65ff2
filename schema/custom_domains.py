"""Custom domains in the API: `addCustomDomain`, `checkCustomDomain`, `removeCustomDomain` and
the `CustomDomain` type listed by `organization.customDomains` (`OrganizationDomainFields`).

All need `domains:manage` (OWNER and ADMIN; an API token may carry it). A domain shows the
records to create and what its last check saw: docs/custom-domains.md describes the whole.
"""

from __future__ import annotations

import datetime
from enum import Enum
from typing import Any, cast

import strawberry
from strawberry import relay

from auth.permissions import Permission
from engine.fields import Connection, Info, ModelNode, Rows, decode_id, described_enum, relation
from engine.permissions import HasPermission, org_from_argument, org_from_source, org_of, requires
from models import custom_domains as models
from models import orgs as org_models
from resolvers import custom_domains as resolvers
from schema.accounts import User

DomainStatus = models.DomainStatus
described_enum(
    models.DomainStatus, name="CustomDomainStatus",
    description="Where a custom domain stands.",
    values={
        DomainStatus.PENDING: "Waiting for its records: checked after 1, 5 and 15 minutes, "
                              "1, 3 and then every 6 hours, for 72 hours.",
        DomainStatus.VERIFIED: "Its records were seen: it serves the organization's pages; "
                               "checked again daily.",
        DomainStatus.FAILED: "Its records were not seen within 72 hours; `checkCustomDomain` "
                             "starts the checks again.",
        DomainStatus.LAPSED: "It was verified, but a later check found its records gone or "
                             "changed: it stopped serving. `checkCustomDomain` starts the "
                             "checks again.",
    })

CheckVerdict = models.CheckVerdict
described_enum(
    models.CheckVerdict, name="DomainCheckVerdict",
    description="What a check of a custom domain concluded from what it saw.",
    values={
        CheckVerdict.VERIFIED: "Both records are as expected.",
        CheckVerdict.TOKEN_MISSING: "No TXT record at `_relleks-challenge.<hostname>`.",
        CheckVerdict.TOKEN_MISMATCH: "TXT records there, but none holds the token.",
        CheckVerdict.TARGET_MISSING: "The token is there, but the hostname has no CNAME.",
        CheckVerdict.TARGET_MISMATCH: "The token is there, but the hostname's CNAME points "
                                      "elsewhere.",
        CheckVerdict.DNS_ERROR: "DNS did not answer (timeout, SERVFAIL): nothing was "
                                "concluded; a verified domain keeps serving for up to 72 hours "
                                "of such answers.",
        CheckVerdict.CLAIMED_ELSEWHERE: "The records are right, but another organization "
                                        "serves this hostname.",
    })


@strawberry.type(description="A DNS record a custom domain needs.")
class DnsRecord:
    type: str = strawberry.field(description="`TXT` or `CNAME`.")
    name: str = strawberry.field(description="The name it is created at.")
    value: str = strawberry.field(description="What it must hold.")


@strawberry.enum(description="What a DNS question got back.")
class DnsOutcome(Enum):
    ANSWER = strawberry.enum_value("answer", description="Records of the type asked for.")
    NXDOMAIN = strawberry.enum_value("nxdomain", description="The name does not exist.")
    NO_ANSWER = strawberry.enum_value("no_answer", description="The name exists, without "
                                                               "records of that type.")
    ERROR = strawberry.enum_value("error", description="No usable answer (timeout, SERVFAIL, "
                                                       "refused): see `error`.")


@strawberry.type(description="What one DNS question of a check saw.")
class ObservedDnsRecord:
    type: str = strawberry.field(description="`TXT` or `CNAME`: what was asked for.")
    name: str = strawberry.field(description="The name asked about.")
    outcome: DnsOutcome = strawberry.field(description="What came back.")
    values: list[str] = strawberry.field(description="The records' values (at most 10, each "
                                                     "cut to 255 characters, non-printable "
                                                     "characters escaped).")
    error: str | None = strawberry.field(description="Why there was no usable answer.")


def _expected(rows: list[dict[str, Any]]) -> list[DnsRecord]:
    return [DnsRecord(type=r["type"], name=r["name"], value=r["value"]) for r in rows]


@strawberry.type(description="The last check of a custom domain: what it expected, what it "
                             "saw, which resolver it asked, and its verdict.")
class DomainCheck:
    checked_at: datetime.datetime = strawberry.field(description="When.")
    verdict: CheckVerdict = strawberry.field(description="What it concluded.")
    expected: list[DnsRecord] = strawberry.field(description="The records it looked for.")
    observed: list[ObservedDnsRecord] = strawberry.field(description="What DNS answered.")
    resolver: str = strawberry.field(description="The nameservers asked (`host:port`), or "
                                                 "`system: ...` for the server's own.")


@strawberry.type(description="A hostname on which the organization's public pages are served "
                             "once it is verified.")
class CustomDomain(ModelNode):
    model = models.CustomDomain

    id: relay.NodeID[str]
    hostname: str = strawberry.field(description="Lower case; an internationalised name in "
                                                 "its ASCII form (`xn--...`).")
    status: DomainStatus = strawberry.field(description="Where it stands.")
    created_at: datetime.datetime = strawberry.field(description="When it was added.")
    verified_at: datetime.datetime | None = strawberry.field(
        description="When it was last verified after being pending; null: never.")
    lapsed_at: datetime.datetime | None = strawberry.field(
        description="When it lapsed; null unless LAPSED.")
    next_check_at: datetime.datetime | None = strawberry.field(
        description="When it is checked next; null: not scheduled (FAILED, LAPSED).")
    created_by = relation("created_by_id", "user", graphql_type=User | None,
                          description="Who added it; null when that account is gone.")

    @strawberry.field(description="The records to create at your DNS provider: the TXT "
                                  "record holding the token (the proof you control the "
                                  "hostname) and the CNAME to our target.")
    def records(self, root: strawberry.Parent[models.CustomDomain]) -> list[DnsRecord]:
        return _expected(root.expected_records)

    @strawberry.field(description="What the last check saw; null before the first.")
    def last_check(self, root: strawberry.Parent[models.CustomDomain]) -> DomainCheck | None:
        if root.checked_at is None or root.verdict is None:
            return None
        return DomainCheck(
            checked_at=root.checked_at, verdict=root.verdict,
            expected=_expected(root.expected_records),
            observed=[ObservedDnsRecord(type=r["type"], name=r["name"],
                                        outcome=DnsOutcome(r["outcome"]),
                                        values=list(r.get("values") or []), error=r.get("error"))
                      for r in root.observed_records],
            resolver=root.resolver or "")


@strawberry.type(description="What `Organization` holds of custom domains "
                             "(`schema/composition.py` composes `Organization`). Not in the "
                             "schema itself.")
class OrganizationDomainFields:
    @relay.connection(Connection[CustomDomain], description="Custom domains, newest first "
                                                            "(`domains:manage`).",
                      extensions=[requires(HasPermission(Permission.DOMAINS_MANAGE,
                                                         org=org_from_source()))])
    def custom_domains(self, root: strawberry.Parent[org_models.Organization],
                       info: Info) -> list[CustomDomain]:
        return cast("list[CustomDomain]", Rows(resolvers.domains_query(info.context, root.id)))


@strawberry.input(description="A hostname to serve the organization's public pages on.")
class AddCustomDomainInput:
    organization_id: relay.GlobalID = strawberry.field(description="The organization.")
    hostname: str = strawberry.field(
        description="A public hostname of at least two labels, e.g. `forms.example.com` (at "
                    "most 234 characters, so that `_relleks-challenge.<hostname>` fits DNS's "
                    "253): no scheme, port, path or IP address, and none of "
                    "our own hosts.")


@strawberry.type(description="The domain just added, with the records to create.")
class AddCustomDomainPayload:
    custom_domain: CustomDomain = strawberry.field(description="The domain, PENDING.")


@strawberry.input(description="The custom domain to check now.")
class CheckCustomDomainInput:
    id: relay.GlobalID = strawberry.field(description="The domain.")


@strawberry.type(description="The domain after the check.")
class CheckCustomDomainPayload:
    custom_domain: CustomDomain = strawberry.field(description="The domain, with `lastCheck`.")


@strawberry.input(description="The custom domain to remove.")
class RemoveCustomDomainInput:
    id: relay.GlobalID = strawberry.field(description="The domain.")


@strawberry.type(description="What removeCustomDomain removed.")
class RemoveCustomDomainPayload:
    deleted_id: strawberry.ID = strawberry.field(description="The removed domain's id.")


@strawberry.type
class CustomDomainMutations:
    @strawberry.mutation(
        description="Add a custom domain (`domains:manage`): PENDING until a check sees the "
                    "records it lists. CONFLICT when the organization has it already "
                    "(`DOMAIN_EXISTS`) or another organization serves it (`HOSTNAME_TAKEN`); "
                    "BAD_USER_INPUT `DOMAIN_LIMIT` past the limit per organization.",
        extensions=[requires(HasPermission(Permission.DOMAINS_MANAGE,
                                           org=org_from_argument("input.organization_id")))])
    async def add_custom_domain(self, info: Info,
                                input: AddCustomDomainInput) -> AddCustomDomainPayload:
        org_id = decode_id(input.organization_id, "Organization", field="organizationId")
        domain = await resolvers.add_custom_domain(info.context, org_id, input.hostname)
        return AddCustomDomainPayload(custom_domain=cast("CustomDomain", domain))

    @strawberry.mutation(
        description="Check a custom domain's DNS records now (`domains:manage`), and start the "
                    "checks of a FAILED or LAPSED one again. Limited per organization "
                    "(RATE_LIMITED, reason `DOMAIN_CHECKS`).",
        extensions=[requires(HasPermission(Permission.DOMAINS_MANAGE,
                                           org=org_of(models.CustomDomain, "CustomDomain",
                                                      "input.id")))])
    async def check_custom_domain(self, info: Info,
                                  input: CheckCustomDomainInput) -> CheckCustomDomainPayload:
        domain = await resolvers.check_custom_domain(
            info.context, decode_id(input.id, "CustomDomain", field="id"))
        return CheckCustomDomainPayload(custom_domain=cast("CustomDomain", domain))

    @strawberry.mutation(
        description="Remove a custom domain (`domains:manage`): it stops serving at once.",
        extensions=[requires(HasPermission(Permission.DOMAINS_MANAGE,
                                           org=org_of(models.CustomDomain, "CustomDomain",
                                                      "input.id")))])
    async def remove_custom_domain(self, info: Info,
                                   input: RemoveCustomDomainInput) -> RemoveCustomDomainPayload:
        removed = await resolvers.remove_custom_domain(
            info.context, decode_id(input.id, "CustomDomain", field="id"))
        return RemoveCustomDomainPayload(
            deleted_id=strawberry.ID(relay.to_base64("CustomDomain", str(removed))))
