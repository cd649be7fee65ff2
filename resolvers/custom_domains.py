"""Custom domains: adding one, checking its DNS records, removing it, and finding the org a
request's Host serves.

A domain is PENDING until a check sees both records the tenant was asked to create: a TXT
record at `_relleks-challenge.<hostname>` holding the row's token (the proof of control) and a
CNAME from the hostname to `CUSTOM_DOMAIN_TARGET` (the proof that it points at us). Scheduled
checks back off (`BACKOFF`) and give up after `PENDING_FOR` (FAILED); a VERIFIED domain is
checked again daily, and one whose records are gone is LAPSED at once and stops serving. A DNS
failure (timeout, SERVFAIL) is a verdict too: it never verifies, and lapses a verified domain
only after `PENDING_FOR` without a good answer. `checkCustomDomain` checks at once (rate
limited per organization) and restarts a FAILED or LAPSED domain's checks.

Each check keeps what it saw on the row (expected and observed records, the nameservers asked,
the verdict, when): the API shows it, so a tenant sees why a domain is not verified.

A hostname serves one org: `served_hostname` is unique and set only while VERIFIED. Several
orgs may hold the same hostname PENDING (nobody can block a hostname by claiming it first);
only one can prove control, and adding a hostname another org already serves is CONFLICT.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from urllib.parse import urlsplit

import structlog
from tortoise.exceptions import IntegrityError
from tortoise.queryset import QuerySet

from auth.permissions import Permission
from core.errors import BadUserInput, Conflict, Unavailable
from core.settings import Settings
from core.validation import validate
from engine.context import Context
from models.custom_domains import CHALLENGE_LABEL, CheckVerdict, CustomDomain, DomainStatus
from models.forms import FormStatus, LeadForm
from models.orgs import Organization
from models.tenancy import EVERY_ORG, system_scope
from realtime.outbox import in_transaction
from resolvers.activity import record, write_event
from services import Services

log = structlog.get_logger("relleks.custom_domains")

BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=15),
           timedelta(hours=1), timedelta(hours=3), timedelta(hours=6))
"""Delays between the scheduled checks of a PENDING domain; the last repeats."""
PENDING_FOR = timedelta(hours=72)
"""How long scheduled checks of a PENDING domain go on before it is FAILED; also how long a
VERIFIED domain keeps serving while DNS answers only with errors."""
RECHECK_VERIFIED = timedelta(days=1)
RETRY_AFTER_DNS_ERROR = timedelta(hours=1)
"""A VERIFIED domain whose check met a DNS error is checked again this soon."""
TOKEN_PREFIX = "rlk-dv-"
HOSTNAME_MAX = 253 - len(CHALLENGE_LABEL) - 1
"""234: the TXT record's name, `_relleks-challenge.<hostname>`, must itself fit DNS's 253."""
DUE_BATCH = 200
"""Checks the sweep queues at most per run (it runs every minute)."""


def own_hosts(settings: Settings) -> list[str]:
    """Our own hostnames, which no tenant may claim (nor names under or above them)."""
    hosts = [urlsplit(settings.public_url).hostname or ""]
    if settings.custom_domain_target:
        hosts.append(settings.custom_domain_target)
    return [host.lower().rstrip(".") for host in hosts if host]


RECORD_TYPES = ("TXT", "CNAME")
"""The records a domain needs and a check looks up: the challenge TXT and the CNAME."""


def expected_records(hostname: str, token: str, target: str | None) -> list[dict[str, Any]]:
    """The records the tenant must create, as the API shows them."""
    records: list[dict[str, Any]] = [
        {"type": "TXT", "name": f"{CHALLENGE_LABEL}.{hostname}", "value": token}]
    if target:
        records.append({"type": "CNAME", "name": hostname, "value": target})
    return records


async def add_custom_domain(ctx: Context, org_id: uuid.UUID, hostname: str) -> CustomDomain:
    settings = ctx.services.settings
    target = settings.custom_domain_target
    if not target:
        raise Unavailable("Custom domains are not configured on this server "
                          "(CUSTOM_DOMAIN_TARGET).", reason="CUSTOM_DOMAINS_NOT_CONFIGURED")
    with validate() as check:
        host = check.hostname("hostname", hostname, refused=own_hosts(settings),
                              max_length=HOSTNAME_MAX)
    token = TOKEN_PREFIX + secrets.token_urlsafe(24)
    now = datetime.now(UTC)
    async with in_transaction():
        # The org locked: two additions at once count each other.
        await ctx.access.require_now(org_id, Permission.DOMAINS_MANAGE)
        rows = ctx.access.scoped(CustomDomain, org_id)
        if await rows.filter(hostname=host).exists():
            raise Conflict(f"{host} is already one of this organization's domains.",
                           reason="DOMAIN_EXISTS")
        limit = settings.custom_domains_per_org
        if await rows.count() >= limit:
            raise BadUserInput(f"An organization has at most {limit} custom domains: remove "
                               "one first.", reason="DOMAIN_LIMIT", limit=limit)
        if await CustomDomain.serving(host).exists():
            raise Conflict(f"{host} serves another organization.", reason="HOSTNAME_TAKEN")
        try:
            domain = await CustomDomain.create(
                organization_id=org_id, created_by_id=ctx.user.id, hostname=host,
                verification_token=token, status=DomainStatus.PENDING, pending_since=now,
                next_check_at=now + BACKOFF[0],
                expected_records=expected_records(host, token, target))
        except IntegrityError as exc:  # the same hostname added at this very moment
            raise Conflict(f"{host} is already one of this organization's domains.",
                           reason="DOMAIN_EXISTS") from exc
        await record(ctx, org_id, "custom_domain.added", target_type="custom_domain",
                     target_id=domain.id, summary={"hostname": host})
    return domain


async def verified_origins(ctx: Context, org_id: uuid.UUID) -> set[str]:
    """The org's verified domains as https origins: where its forms may also redirect."""
    hosts = await ctx.access.scoped(CustomDomain, org_id).filter(
        status=DomainStatus.VERIFIED).values_list("hostname", flat=True)
    return {f"https://{host}" for host in cast("list[str]", hosts)}


def domains_query(ctx: Context, org_id: uuid.UUID) -> QuerySet[CustomDomain]:
    """The org's domains, newest first."""
    return ctx.access.scoped(CustomDomain, org_id).order_by("-created_at", "-id")


async def remove_custom_domain(ctx: Context, domain_id: uuid.UUID) -> uuid.UUID:
    """Remove a domain: it stops serving at once (its row is gone)."""
    domain = await ctx.row(CustomDomain, domain_id, what="custom domain")
    async with in_transaction():
        await ctx.access.scoped(CustomDomain, domain.organization_id).filter(
            id=domain.id).delete()
        await record(ctx, domain.organization_id, "custom_domain.removed",
                     target_type="custom_domain", target_id=domain.id,
                     summary={"hostname": domain.hostname})
    return domain.id


async def check_custom_domain(ctx: Context, domain_id: uuid.UUID) -> CustomDomain:
    """Check a domain now, as the caller asked (rate limited per organization)."""
    domain = await ctx.row(CustomDomain, domain_id, what="custom domain")
    await ctx.services.limiter.hit_domain_check(org_id=domain.organization_id)
    seen = await probe(ctx.services, domain)
    rows = ctx.access.scoped(CustomDomain, domain.organization_id)
    return await apply_check(ctx.services, rows, domain, seen, scheduled=False)


@dataclass(frozen=True)
class Probe:
    """What one check saw and concluded."""

    verdict: CheckVerdict
    expected: list[dict[str, Any]]
    observed: list[dict[str, Any]]
    resolver: str
    at: datetime


async def probe(services: Services, domain: CustomDomain) -> Probe:
    """Ask DNS for the domain's two records (at once, each bounded by DNS_TIMEOUT) and judge."""
    target = services.settings.custom_domain_target
    dns = services.dns
    txt, cname = await asyncio.gather(dns.lookup(domain.challenge_name, "TXT"),
                                      dns.lookup(domain.hostname, "CNAME"))
    if txt.outcome == "error":
        verdict = CheckVerdict.DNS_ERROR
    elif domain.verification_token not in txt.values:
        verdict = CheckVerdict.TOKEN_MISMATCH if txt.values else CheckVerdict.TOKEN_MISSING
    elif not target:
        verdict = CheckVerdict.VERIFIED  # no target configured: the proof of control suffices
    elif cname.outcome == "error":
        verdict = CheckVerdict.DNS_ERROR
    elif not cname.values:
        verdict = CheckVerdict.TARGET_MISSING
    elif cname.values[0].rstrip(".") != target.lower().rstrip("."):
        verdict = CheckVerdict.TARGET_MISMATCH
    else:
        verdict = CheckVerdict.VERIFIED
    return Probe(verdict=verdict,
                 expected=expected_records(domain.hostname, domain.verification_token, target),
                 observed=[txt.as_record(), cname.as_record()], resolver=dns.described[:255],
                 at=datetime.now(UTC))


def _next_pending(domain: CustomDomain, now: datetime, *, scheduled: bool,
                  restart: bool) -> dict[str, Any]:
    """The columns of a domain that stays (or becomes) PENDING, or FAILED past PENDING_FOR."""
    since = now if restart else domain.pending_since
    step = 0 if restart else domain.pending_checks + (1 if scheduled else 0)
    if now - since >= PENDING_FOR:
        return {"status": DomainStatus.FAILED, "next_check_at": None, "served_hostname": None,
                "pending_checks": step}
    next_at = now + BACKOFF[min(step, len(BACKOFF) - 1)]
    if not scheduled and not restart and domain.next_check_at is not None:
        next_at = domain.next_check_at  # a check by hand leaves the schedule as it was
    return {"status": DomainStatus.PENDING, "pending_since": since, "pending_checks": step,
            "next_check_at": next_at, "served_hostname": None}


def transition(domain: CustomDomain, seen: Probe, *, scheduled: bool) -> dict[str, Any]:
    """The columns a check writes: what it saw, and the status that follows from it."""
    now = seen.at
    columns: dict[str, Any] = {"checked_at": now, "verdict": seen.verdict,
                               "expected_records": seen.expected,
                               "observed_records": seen.observed, "resolver": seen.resolver}
    was = domain.status
    if seen.verdict is CheckVerdict.VERIFIED:
        columns.update(status=DomainStatus.VERIFIED, served_hostname=domain.hostname,
                       confirmed_at=now, lapsed_at=None, pending_checks=0,
                       next_check_at=now + RECHECK_VERIFIED,
                       verified_at=domain.verified_at if was is DomainStatus.VERIFIED else now)
    elif was is DomainStatus.VERIFIED:
        last_good = domain.confirmed_at or domain.verified_at or now
        if seen.verdict is CheckVerdict.DNS_ERROR and now - last_good < PENDING_FOR:
            columns["next_check_at"] = now + RETRY_AFTER_DNS_ERROR  # keeps serving meanwhile
        else:
            columns.update(status=DomainStatus.LAPSED, served_hostname=None, lapsed_at=now,
                           next_check_at=None)
    else:
        restart = not scheduled and was in {DomainStatus.FAILED, DomainStatus.LAPSED}
        columns.update(_next_pending(domain, now, scheduled=scheduled, restart=restart))
    return columns


EVENTS = {DomainStatus.VERIFIED: "custom_domain.verified",
          DomainStatus.FAILED: "custom_domain.failed",
          DomainStatus.LAPSED: "custom_domain.lapsed"}


async def apply_check(services: Services, rows: QuerySet[CustomDomain], domain: CustomDomain,
                      seen: Probe, *, scheduled: bool) -> CustomDomain:
    """Write what a check saw onto the domain (`rows`: its org's rows, through the caller's
    scope) and log a change of status in the org's activity. A hostname another org serves
    meanwhile is CLAIMED_ELSEWHERE and does not verify. A domain removed meanwhile stays
    removed (the update finds no row)."""
    if seen.verdict is CheckVerdict.VERIFIED and await CustomDomain.serving(domain.hostname) \
            .exclude(id=domain.id).exists():
        seen = Probe(CheckVerdict.CLAIMED_ELSEWHERE, seen.expected, seen.observed,
                     seen.resolver, seen.at)
    columns = transition(domain, seen, scheduled=scheduled)
    try:
        updated = await rows.filter(id=domain.id).update(**columns)
    except IntegrityError:  # another org's check verified the same hostname at this moment
        seen = Probe(CheckVerdict.CLAIMED_ELSEWHERE, seen.expected, seen.observed,
                     seen.resolver, seen.at)
        columns = transition(domain, seen, scheduled=scheduled)
        updated = await rows.filter(id=domain.id).update(**columns)
    if not updated:
        return domain
    status = columns.get("status", domain.status)
    if status is not domain.status and status in EVENTS:
        await write_event(services.broker, domain.organization_id, EVENTS[status],
                          target_type="custom_domain", target_id=domain.id,
                          summary={"hostname": domain.hostname,
                                   "verdict": seen.verdict.value})
    log.info("custom_domain.checked", domain_id=str(domain.id), verdict=seen.verdict.value,
             status=str(status), scheduled=scheduled)
    for name, value in columns.items():
        setattr(domain, name, value)
    return domain


# Scheduled checks (jobs/custom_domains.py runs them).

def _scope(org_id: uuid.UUID, reason: str) -> QuerySet[CustomDomain]:
    return system_scope(org_id, reason=reason).scoped(CustomDomain)


async def due_checks(now: datetime, lease: timedelta) -> list[uuid.UUID]:
    """The domains whose scheduled check is due (at most DUE_BATCH, the most overdue first),
    each pushed `lease` ahead so that the next sweep does not queue it again while its job
    waits; a lost job is queued again after the lease. The check sets the real next time."""
    every = system_scope(EVERY_ORG, reason="queue the custom-domain checks that are due")
    due = cast("list[uuid.UUID]", await every.scoped(CustomDomain).filter(
        next_check_at__lte=now,
        status__in=[DomainStatus.PENDING, DomainStatus.VERIFIED],
    ).order_by("next_check_at").limit(DUE_BATCH).values_list("id", flat=True))
    if due:
        await every.scoped(CustomDomain).filter(id__in=due, next_check_at__lte=now).update(
            next_check_at=now + lease)
    return due


async def run_scheduled_check(services: Services, domain_id: uuid.UUID) -> CustomDomain | None:
    """One scheduled check of one domain (idempotent: a domain removed, FAILED or LAPSED
    meanwhile is left alone). None when there was nothing to check."""
    every = system_scope(EVERY_ORG, reason="a scheduled custom-domain check")
    domain = await every.scoped(CustomDomain).filter(id=domain_id).first()
    if domain is None or domain.status not in {DomainStatus.PENDING, DomainStatus.VERIFIED}:
        return None
    seen = await probe(services, domain)
    rows = _scope(domain.organization_id, "record a scheduled custom-domain check")
    return await apply_check(services, rows, domain, seen, scheduled=True)


# Serving: which org a Host belongs to (web/sites.py).

@dataclass(frozen=True)
class Site:
    """What a hostname that is not the API's own is: the org it serves (VERIFIED), or a
    custom domain that serves nothing (`org_id` None), or no custom domain at all (`known`
    False: the API answers as on any other host)."""

    org_id: uuid.UUID | None
    known: bool


async def site_for_host(hostname: str) -> Site:
    """One indexed query on `hostname`: the org a VERIFIED row serves, else whether any org
    holds the hostname (PENDING, FAILED, LAPSED: it serves nothing)."""
    rows = await CustomDomain.by_host(hostname).values_list("organization_id",
                                                            "served_hostname")
    for org_id, served in rows:
        if served == hostname:
            return Site(org_id=org_id, known=True)
    return Site(org_id=None, known=bool(rows))


SITE_FORMS_MAX = 100
"""Forms a site's home page lists at most."""


async def site_forms(org_id: uuid.UUID) -> tuple[str, list[LeadForm]]:
    """What a tenant's site lists at `/`: the org's name and its ACTIVE forms by name."""
    org = await Organization.get(id=org_id)
    forms = await system_scope(org_id, reason="list a custom domain's active forms") \
        .scoped(LeadForm).filter(status=FormStatus.ACTIVE) \
        .order_by("name", "id").limit(SITE_FORMS_MAX)
    return org.name, list(forms)


async def serves(hostname: str) -> bool:
    """Whether `hostname` is a VERIFIED custom domain (the TLS `ask`): one indexed query."""
    return await CustomDomain.serving(hostname).exists()

