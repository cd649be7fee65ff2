"""Custom domains over HTTP: adding one, checking it against a real DNS server on loopback
(verified, wrong token, missing record, wrong or missing CNAME, DNS failures), removing it,
listing them, and every refusal: bad hostnames, our own hosts, the limit per organization, the
rate limit on checks, another org's domain, a hostname another org serves, roles without
`domains:manage`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.settings import Settings
from models.activity import ActivityEvent
from models.custom_domains import CustomDomain, DomainStatus
from models.orgs import Role
from models.tenancy import system_scope
from tests.conftest import Api, error_code, errors_of
from tests.domains.conftest import (
    LIST,
    REMOVE,
    TARGET,
    add_domain,
    added,
    api_with,
    check,
    publish,
    row,
    verified,
)
from tests.nameserver import Zone, silent_nameserver
from tests.orgs.conftest import Team
from tests.tokens.conftest import make_token


async def test_added_domain_is_pending_with_the_records_to_create(api: Api, team: Team) -> None:
    before = datetime.now(UTC)
    domain = await added(api, team, "Forms.ACME-Shop.com.")
    assert domain["hostname"] == "forms.acme-shop.com"  # lower case, no trailing dot
    assert domain["status"] == "PENDING" and domain["lastCheck"] is None
    txt, cname = domain["records"]
    assert txt["type"] == "TXT" and txt["name"] == "_relleks-challenge.forms.acme-shop.com"
    assert txt["value"].startswith("rlk-dv-") and len(txt["value"]) > 30
    assert cname == {"type": "CNAME", "name": "forms.acme-shop.com", "value": TARGET}
    next_check = datetime.fromisoformat(domain["nextCheckAt"])
    assert before + timedelta(seconds=50) < next_check < before + timedelta(minutes=2)
    assert domain["createdBy"]["id"] == team.people[Role.ADMIN].id
    events = await system_scope(team.org.id, reason="test").scoped(ActivityEvent).filter(
        action="custom_domain.added")
    assert [e.summary for e in events] == [{"hostname": "forms.acme-shop.com"}]


async def test_the_longest_hostname_whose_challenge_name_fits_dns(api: Api, team: Team,
                                                                   zone: Zone) -> None:
    hostname = ".".join(["abcdefghi"] * 22) + ".abcdefghij.com"
    assert len(hostname) == 234
    domain = await added(api, team, hostname)
    assert len(domain["records"][0]["name"]) == 253
    body = await check(api, team, domain["id"])
    assert body["data"]["checkCustomDomain"]["customDomain"]["lastCheck"]["verdict"] == \
        "TOKEN_MISSING"


async def test_internationalised_names_are_stored_in_their_ascii_form(api: Api,
                                                                      team: Team) -> None:
    domain = await added(api, team, "Bücher.Example-Shop.com")
    assert domain["hostname"] == "xn--bcher-kva.example-shop.com"


async def test_a_check_that_sees_both_records_verifies_and_shows_what_it_saw(
        api: Api, team: Team, zone: Zone, nameserver: tuple[Zone, int]) -> None:
    domain = await added(api, team, "forms.acme-shop.com")
    publish(zone, domain)
    body = await check(api, team, domain["id"])
    checked = body["data"]["checkCustomDomain"]["customDomain"]
    assert checked["status"] == "VERIFIED" and checked["verifiedAt"]
    last = checked["lastCheck"]
    assert last["verdict"] == "VERIFIED"
    assert last["resolver"] == f"127.0.0.1:{nameserver[1]}"
    assert last["expected"] == domain["records"]
    token = domain["records"][0]["value"]
    assert last["observed"] == [
        {"type": "TXT", "name": "_relleks-challenge.forms.acme-shop.com", "outcome": "ANSWER",
         "values": [token], "error": None},
        {"type": "CNAME", "name": "forms.acme-shop.com", "outcome": "ANSWER",
         "values": [TARGET], "error": None}]
    stored = await row(domain["id"])
    assert stored.served_hostname == "forms.acme-shop.com"
    assert stored.next_check_at and stored.next_check_at > datetime.now(UTC) + timedelta(hours=23)


async def test_a_wrong_token_is_shown_as_seen_and_does_not_verify(api: Api, team: Team,
                                                                  zone: Zone) -> None:
    domain = await added(api, team, "forms.acme-shop.com")
    publish(zone, domain)
    zone.txt("_relleks-challenge.forms.acme-shop.com", "rlk-dv-someone-elses", "v=spf1 -all")
    checked = (await check(api, team, domain["id"]))["data"]["checkCustomDomain"]["customDomain"]
    assert checked["status"] == "PENDING"
    assert checked["lastCheck"]["verdict"] == "TOKEN_MISMATCH"
    assert checked["lastCheck"]["observed"][0]["values"] == ["rlk-dv-someone-elses",
                                                             "v=spf1 -all"]
    assert (await row(domain["id"])).served_hostname is None


async def test_a_missing_record_is_nxdomain(api: Api, team: Team, zone: Zone) -> None:
    domain = await added(api, team, "forms.acme-shop.com")
    checked = (await check(api, team, domain["id"]))["data"]["checkCustomDomain"]["customDomain"]
    assert checked["status"] == "PENDING"
    assert checked["lastCheck"]["verdict"] == "TOKEN_MISSING"
    assert [o["outcome"] for o in checked["lastCheck"]["observed"]] == ["NXDOMAIN", "NXDOMAIN"]


async def test_the_cname_must_point_at_the_target(api: Api, team: Team, zone: Zone) -> None:
    domain = await added(api, team, "forms.acme-shop.com")
    zone.txt("_relleks-challenge.forms.acme-shop.com", domain["records"][0]["value"])
    missing = (await check(api, team, domain["id"]))["data"]["checkCustomDomain"]
    assert missing["customDomain"]["lastCheck"]["verdict"] == "TARGET_MISSING"
    zone.cname("forms.acme-shop.com", "ghs.googlehosted.com")
    elsewhere = (await check(api, team, domain["id"]))["data"]["checkCustomDomain"]
    assert elsewhere["customDomain"]["lastCheck"]["verdict"] == "TARGET_MISMATCH"
    assert elsewhere["customDomain"]["lastCheck"]["observed"][1]["values"] == [
        "ghs.googlehosted.com"]
    assert elsewhere["customDomain"]["status"] == "PENDING"


async def test_dns_failures_are_a_verdict_never_a_crash(api: Api, team: Team, zone: Zone,
                                                        settings: Settings) -> None:
    domain = await added(api, team, "forms.acme-shop.com")
    publish(zone, domain)
    zone.servfail("_relleks-challenge.forms.acme-shop.com")
    body = await check(api, team, domain["id"])
    last = body["data"]["checkCustomDomain"]["customDomain"]["lastCheck"]
    assert last["verdict"] == "DNS_ERROR"
    assert last["observed"][0]["outcome"] == "ERROR" and "SERVFAIL" in last["observed"][0]["error"]
    with silent_nameserver() as port:
        async with api_with(settings, dns_nameservers=(f"127.0.0.1:{port}",),
                            dns_timeout=0.5) as slow:
            started = datetime.now(UTC)
            body = await check(slow, team, domain["id"])
    assert datetime.now(UTC) - started < timedelta(seconds=5)  # bounded by DNS_TIMEOUT
    last = body["data"]["checkCustomDomain"]["customDomain"]["lastCheck"]
    assert last["verdict"] == "DNS_ERROR" and last["resolver"] == f"127.0.0.1:{port}"
    assert last["observed"][0]["error"] == "no answer within 0.5 s"
    assert body["data"]["checkCustomDomain"]["customDomain"]["status"] == "PENDING"


async def test_removing_a_domain(api: Api, team: Team, zone: Zone) -> None:
    domain = await verified(api, team, zone, "forms.acme-shop.com")
    body = await api.gql(REMOVE, {"id": domain["id"]}, token=team.people[Role.OWNER].token)
    assert body["data"]["removeCustomDomain"]["deletedId"] == domain["id"]
    assert not await system_scope(team.org.id, reason="test").scoped(CustomDomain).exists()
    again = await api.gql(REMOVE, {"id": domain["id"]}, token=team.people[Role.OWNER].token)
    assert error_code(again) == "NOT_FOUND"


async def test_the_list_is_newest_first(api: Api, team: Team) -> None:
    for host in ("a.acme-shop.com", "b.acme-shop.com"):
        await added(api, team, host)
    body = await api.gql(LIST, {"slug": team.slug}, token=team.people[Role.ADMIN].token)
    domains = body["data"]["organization"]["customDomains"]
    assert domains["totalCount"] == 2
    assert [d["hostname"] for d in domains["nodes"]] == ["b.acme-shop.com", "a.acme-shop.com"]


# Who may.

@pytest.mark.parametrize("role", [Role.MEMBER, Role.VIEWER], ids=lambda r: r.name)
async def test_members_and_viewers_may_not_manage_domains(api: Api, team: Team,
                                                          role: Role) -> None:
    domain = await added(api, team, "forms.acme-shop.com")
    for body in (await add_domain(api, team, "other.acme-shop.com", role),
                 await check(api, team, domain["id"], role),
                 await api.gql(REMOVE, {"id": domain["id"]}, token=team.people[role].token),
                 await api.gql(LIST, {"slug": team.slug}, token=team.people[role].token)):
        (error,) = errors_of(body)
        assert error["extensions"] == {"code": "FORBIDDEN", "permission": "domains:manage"}
    assert await system_scope(team.org.id, reason="test").scoped(CustomDomain).count() == 1


async def test_an_api_token_with_the_scope_may(api: Api, team: Team) -> None:
    token = await make_token(team, ["domains:manage"])
    body = await api.gql(
        "mutation($input: AddCustomDomainInput!) { addCustomDomain(input: $input) { "
        "customDomain { hostname createdBy { id } } } }",
        {"input": {"organizationId": team.org_id, "hostname": "forms.acme-shop.com"}},
        token=token.secret)
    assert body["data"]["addCustomDomain"]["customDomain"]["hostname"] == "forms.acme-shop.com"
    without = await make_token(team, ["leads:read"])
    refused = await api.gql(LIST, {"slug": team.slug}, token=without.secret)
    assert errors_of(refused)[0]["extensions"]["code"] == "FORBIDDEN"


async def test_another_orgs_domain_is_not_found(api: Api, team: Team, rival: Team,
                                                zone: Zone) -> None:
    domain = await added(api, team, "forms.acme-shop.com")
    publish(zone, domain)
    asked = zone.asked("_relleks-challenge.forms.acme-shop.com")
    for body in (await check(api, rival, domain["id"], Role.OWNER),
                 await api.gql(REMOVE, {"id": domain["id"]},
                               token=rival.people[Role.OWNER].token),
                 await api.gql(LIST, {"slug": team.slug}, token=rival.people[Role.OWNER].token)):
        assert error_code(body) == "NOT_FOUND", body
    assert zone.asked("_relleks-challenge.forms.acme-shop.com") == asked  # nothing looked up
    assert (await row(domain["id"])).status is DomainStatus.PENDING


# Refusals of the input.

@pytest.mark.parametrize(("hostname", "problem"), [
    ("", "must not be empty"),
    ("a" * 64 + ".example.com", "not a valid hostname"),
    (".".join(["abcdefghi"] * 22) + ".abcdefghijk.com", "at most 234"),  # 235 characters
    ("x" * 5000, "at most 253"),
    ("203.0.113.7", "not an IP address"),
    ("[2001:db8::1]", "not an IP address"),
    ("forms.example.com:8443", "without a port"),
    ("https://forms.example.com/", "without a scheme"),
    ("forms.example.com/path", "without a scheme"),
    ("localhost", "full domain name"),
    ("shop.localhost", "not public"),
    ("printer.local", "not public"),
    ("forms.example.test", "not public"),
    ("com", "full domain name"),
    ("forms..example.com", "not a valid hostname"),
    ("-forms.example.com", "not a valid hostname"),
    ("forms_1.example.com", "not a valid hostname"),
    ("forms.example.com\u202e", "control or invisible"),
    ("forms example.com", "spaces"),
    ("1.2.3.4.5", "not an IP address"),
    (TARGET, "our own hosts"),
    ("x." + TARGET, "our own hosts"),
    ("relleks-test.net", "our own hosts"),  # the parent of our target
])
async def test_bad_hostnames_are_refused(api: Api, team: Team, hostname: str,
                                         problem: str) -> None:
    body = await add_domain(api, team, hostname)
    (error,) = errors_of(body)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert problem in error["extensions"]["fields"]["hostname"], error
    assert not await system_scope(team.org.id, reason="test").scoped(CustomDomain).exists()


async def test_the_public_url_host_is_ours(settings: Settings, team: Team) -> None:
    async with api_with(settings, public_url="https://api.relleks-test.org") as other:
        for hostname in ("api.relleks-test.org", "x.api.relleks-test.org", "relleks-test.org"):
            body = await add_domain(other, team, hostname)
            assert "our own hosts" in errors_of(body)[0]["extensions"]["fields"]["hostname"]


async def test_the_same_hostname_twice_in_one_org_is_a_conflict(api: Api, team: Team) -> None:
    await added(api, team, "forms.acme-shop.com")
    (error,) = errors_of(await add_domain(api, team, "FORMS.acme-shop.com"))
    assert error["extensions"] == {"code": "CONFLICT", "reason": "DOMAIN_EXISTS"}


async def test_an_organization_holds_a_bounded_number_of_domains(settings: Settings,
                                                                 team: Team) -> None:
    async with api_with(settings, custom_domains_per_org=2) as limited:
        for host in ("a.acme-shop.com", "b.acme-shop.com"):
            await added(limited, team, host)
        (error,) = errors_of(await add_domain(limited, team, "c.acme-shop.com"))
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "reason": "DOMAIN_LIMIT",
                                   "limit": 2}
    assert await system_scope(team.org.id, reason="test").scoped(CustomDomain).count() == 2


async def test_checks_are_rate_limited_per_organization(settings: Settings, team: Team,
                                                        zone: Zone) -> None:
    async with api_with(settings, custom_domain_check_rate="2/hour") as limited:
        first = await added(limited, team, "a.acme-shop.com")
        second = await added(limited, team, "b.acme-shop.com")
        for domain in (first, second):
            assert "errors" not in await check(limited, team, domain["id"])
        asked = zone.asked("_relleks-challenge.a.acme-shop.com")
        (error,) = errors_of(await check(limited, team, first["id"]))
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert error["extensions"]["reason"] == "DOMAIN_CHECKS"
    assert 0 < error["extensions"]["retryAfter"] <= 3600
    assert zone.asked("_relleks-challenge.a.acme-shop.com") == asked  # refused before DNS


async def test_a_hostname_another_org_serves_cannot_be_added(api: Api, team: Team,
                                                             rival: Team, zone: Zone) -> None:
    await verified(api, team, zone, "forms.acme-shop.com")
    (error,) = errors_of(await add_domain(api, rival, "forms.acme-shop.com"))
    assert error["extensions"] == {"code": "CONFLICT", "reason": "HOSTNAME_TAKEN"}


async def test_a_pending_claim_blocks_nobody_and_only_one_org_serves(api: Api, team: Team,
                                                                     rival: Team,
                                                                     zone: Zone) -> None:
    """A rival may claim a hostname that is only PENDING elsewhere (nobody squats a name); the
    org that proves control serves it, and the other's proof then does not take it over."""
    ours = await added(api, team, "forms.acme-shop.com")
    theirs = await added(api, rival, "forms.acme-shop.com")
    publish(zone, ours)
    body = await check(api, team, ours["id"])
    assert body["data"]["checkCustomDomain"]["customDomain"]["status"] == "VERIFIED"
    zone.txt("_relleks-challenge.forms.acme-shop.com", ours["records"][0]["value"],
             theirs["records"][0]["value"])
    body = await check(api, rival, theirs["id"], Role.OWNER)
    checked = body["data"]["checkCustomDomain"]["customDomain"]
    assert checked["status"] == "PENDING"
    assert checked["lastCheck"]["verdict"] == "CLAIMED_ELSEWHERE"
    assert (await row(ours["id"])).served_hostname == "forms.acme-shop.com"


async def test_without_a_target_custom_domains_are_unavailable(settings: Settings,
                                                               team: Team) -> None:
    async with api_with(settings, custom_domain_target=None) as bare:
        (error,) = errors_of(await add_domain(bare, team, "forms.acme-shop.com"))
    assert error["extensions"] == {"code": "UNAVAILABLE",
                                   "reason": "CUSTOM_DOMAINS_NOT_CONFIGURED"}
