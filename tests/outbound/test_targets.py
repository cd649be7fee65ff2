"""Which URLs `check_target` refuses, and that a refused URL is never connected to: names the
test DNS server maps to private, reserved and metadata addresses (IPv4, IPv6, IPv4 hidden in
IPv6), IP literals, numeric spellings of IPv4, userinfo, schemes and ports."""

from __future__ import annotations

import dataclasses
import ipaddress

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as settings_
from hypothesis import strategies as st

from core.settings import Settings
from services.dns import Dns
from services.outbound import RefusedTarget, check_target, forbidden, post
from tests.nameserver import Zone
from tests.outbound.conftest import Receiver

pytestmark = pytest.mark.no_db

FORBIDDEN = [
    # IPv4
    "127.0.0.1", "127.255.255.254", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1",
    "169.254.1.1", "169.254.169.254", "169.254.170.2", "100.64.0.1", "100.127.255.254",
    "100.100.100.200", "168.63.129.16", "0.0.0.0", "0.1.2.3", "224.0.0.1", "239.255.255.250",
    "240.0.0.1", "255.255.255.255", "192.0.2.1", "198.51.100.1", "203.0.113.1", "198.18.0.1",
    "192.0.0.192", "192.88.99.1",
    # IPv6
    "::1", "::", "fc00::1", "fd12:3456::1", "fd00:ec2::254", "fe80::1", "fec0::1", "ff02::1",
    "ff0e::1", "2001:db8::1", "3fff::1", "100::1", "2001::1", "2001:0:4136:e378::1",
    # IPv4 inside IPv6: mapped, compatible, NAT64 (well-known and local-use), 6to4
    "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::ffff:100.64.0.1",
    "::127.0.0.1", "::10.0.0.1", "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b::a00:1",
    "64:ff9b:1::a00:1", "64:ff9b:1::808:808", "2002:7f00:1::1", "2002:a9fe:a9fe::1",
    "2002:c0a8:101::1",
]
REASONS = {"NOT_HTTPS", "BAD_URL", "USERINFO", "PORT", "NO_ADDRESS", "FORBIDDEN_ADDRESS",
           "DNS_ERROR"}
PUBLIC = ["93.184.215.14", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "2a00:1450::1",
          "64:ff9b::808:808", "::ffff:8.8.8.8", "2002:808:808::1"]


async def refused(settings: Settings, dns: Dns, url: str) -> RefusedTarget:
    with pytest.raises(RefusedTarget) as caught:
        await check_target(settings, dns, url)
    assert str(caught.value) and caught.value.reason == caught.value.reason.upper()
    return caught.value


@pytest.mark.parametrize("address", FORBIDDEN)
async def test_a_name_resolving_to_a_forbidden_address_is_refused(
        strict: Settings, dns: Dns, zone: Zone, address: str) -> None:
    zone.address("hooks.example.test", address)
    error = await refused(strict, dns, "https://hooks.example.test/relleks")
    assert error.reason == "FORBIDDEN_ADDRESS", error
    assert "not public" in str(error) and address not in str(error)


@pytest.mark.parametrize("address", FORBIDDEN)
async def test_an_ip_literal_of_a_forbidden_address_is_refused(
        strict: Settings, dns: Dns, zone: Zone, address: str) -> None:
    host = f"[{address}]" if ":" in address else address
    error = await refused(strict, dns, f"https://{host}/relleks")
    assert error.reason == "FORBIDDEN_ADDRESS", error
    assert zone.questions == []  # a literal is not looked up


@pytest.mark.parametrize("address", PUBLIC)
async def test_public_addresses_are_accepted(strict: Settings, dns: Dns, zone: Zone,
                                             address: str) -> None:
    zone.address("hooks.example.test", address)
    target = await check_target(strict, dns, "https://hooks.example.test/relleks?x=1")
    shown = ipaddress.ip_address(address)
    if isinstance(shown, ipaddress.IPv6Address) and shown.ipv4_mapped:
        shown = shown.ipv4_mapped  # connected to as IPv4
    assert target.address == str(shown) and target.port == 443
    assert target.hostname == "hooks.example.test" and target.scheme == "https"
    assert target.url == "https://hooks.example.test/relleks?x=1"


async def test_every_address_is_checked_and_ipv4_is_connected_to_first(
        strict: Settings, dns: Dns, zone: Zone) -> None:
    zone.address("mixed.example.test", "93.184.215.14", "fd00::1")
    error = await refused(strict, dns, "https://mixed.example.test/")
    assert error.reason == "FORBIDDEN_ADDRESS" and "unique local" in str(error)
    zone.address("mixed.example.test", "10.0.0.1", "2606:4700:4700::1111")
    assert (await refused(strict, dns, "https://mixed.example.test/")).reason \
        == "FORBIDDEN_ADDRESS"
    zone.address("both.example.test", "2606:4700:4700::1111", "93.184.215.14")
    target = await check_target(strict, dns, "https://both.example.test/")
    assert target.address == "93.184.215.14"
    assert set(target.addresses) == {"93.184.215.14", "2606:4700:4700::1111"}


async def test_a_cname_to_a_forbidden_address_is_refused(strict: Settings, dns: Dns,
                                                         zone: Zone) -> None:
    zone.cname("alias.example.test", "internal.example.test")
    zone.address("internal.example.test", "10.0.0.5")
    error = await refused(strict, dns, "https://alias.example.test/")
    assert error.reason == "FORBIDDEN_ADDRESS" and "10.0.0.5" not in str(error)
    assert "alias.example.test" in str(error)
    zone.address("internal.example.test", "93.184.215.14")
    assert (await check_target(strict, dns, "https://alias.example.test/")).address \
        == "93.184.215.14"


async def test_a_refusal_of_an_ip_literal_names_it(strict: Settings, dns: Dns) -> None:
    error = await refused(strict, dns, "https://[::ffff:10.0.0.1]/")
    assert str(error) == "::ffff:a00:1 is not a public address (private (IPv4 inside IPv6))."
    error = await refused(strict, dns, "https://169.254.169.254/latest/meta-data/")
    assert str(error) == "169.254.169.254 is not a public address (cloud metadata service)."


@pytest.mark.parametrize("url", [
    "https://2130706433/", "https://0x7f.1/", "https://0x7f000001/", "https://0177.0.0.1/",
    "https://127.1/", "https://127.0.1/", "https://017700000001/", "https://1.2.3.4.5/",
    "https://example.123/", "https://[fe80::1%25eth0]/", "https://[::1/", "https:///hook",
    "https://exa_mple.test/", "https://-bad.example.test/", "https://a..b.test/",
    "https://" + "a" * 64 + ".test/", "https://" + "a." * 130 + "test/",
    "https://example.test/" + "x" * 2100, "https://exa mple.test/", "not a url",
    "https://example.test:99999/", "https://example.test:abc/",
])
async def test_malformed_urls_and_numeric_spellings_of_ipv4_are_refused(
        strict: Settings, dns: Dns, zone: Zone, url: str) -> None:
    error = await refused(strict, dns, url)
    assert error.reason in {"BAD_URL", "NOT_HTTPS"}, error
    assert zone.questions == []  # refused before asking DNS


@pytest.mark.parametrize("url", ["http://hooks.example.test/", "ftp://hooks.example.test/",
                                 "file:///etc/passwd", "gopher://hooks.example.test/",
                                 "HTTP://hooks.example.test/", "//hooks.example.test/"])
async def test_only_https_without_the_loopback_setting(strict: Settings, dns: Dns, zone: Zone,
                                                       url: str) -> None:
    zone.address("hooks.example.test", "93.184.215.14")
    assert (await refused(strict, dns, url)).reason in {"NOT_HTTPS", "BAD_URL"}


@pytest.mark.parametrize("url", ["https://user:pass@hooks.example.test/",
                                 "https://user@hooks.example.test/",
                                 "https://hooks.example.test\\@127.0.0.1/",
                                 "https://:@hooks.example.test/",
                                 "https://hooks.example.test@93.184.215.14/"])
async def test_userinfo_is_refused(strict: Settings, dns: Dns, zone: Zone, url: str) -> None:
    zone.address("hooks.example.test", "93.184.215.14")
    assert (await refused(strict, dns, url)).reason in {"USERINFO", "BAD_URL"}


async def test_ports_other_than_443_need_the_setting(strict: Settings, dns: Dns,
                                                     zone: Zone) -> None:
    zone.address("hooks.example.test", "93.184.215.14")
    for port in (8443, 22, 25, 6379, 80):
        error = await refused(strict, dns, f"https://hooks.example.test:{port}/")
        assert error.reason == "PORT" and "443" in str(error)
    assert (await check_target(strict, dns, "https://hooks.example.test:443/")).port == 443
    wider = dataclasses.replace(strict, webhook_ports=(443, 8443))
    assert (await check_target(wider, dns, "https://hooks.example.test:8443/")).port == 8443
    only = dataclasses.replace(strict, webhook_ports=(8443,))
    assert (await refused(only, dns, "https://hooks.example.test/")).reason == "PORT"
    # An @ after the host (in the query) is not userinfo.
    assert (await check_target(strict, dns, "https://hooks.example.test/?to=a@b.test")).port \
        == 443


async def test_names_without_addresses_and_failing_dns(strict: Settings, dns: Dns,
                                                       zone: Zone) -> None:
    assert (await refused(strict, dns, "https://nowhere.example.test/")).reason == "NO_ADDRESS"
    zone.txt("textonly.example.test", "hello")
    assert (await refused(strict, dns, "https://textonly.example.test/")).reason == "NO_ADDRESS"
    zone.servfail("broken.example.test")
    error = await refused(strict, dns, "https://broken.example.test/")
    assert error.reason == "DNS_ERROR" and "127.0.0.1" not in str(error)


async def test_refused_before_any_connection(strict: Settings, dns: Dns, zone: Zone,
                                             receiver: Receiver) -> None:
    """The receiver on 127.0.0.1 listens on an allowed port: nothing reaches it."""
    settings = dataclasses.replace(strict, webhook_ports=(443, receiver.port))
    for name, address in (("loop.example.test", "127.0.0.1"),
                          ("mapped.example.test", "::ffff:127.0.0.1"),
                          ("nat64.example.test", "64:ff9b::7f00:1")):
        zone.address(name, address)
        for url in (f"https://{name}:{receiver.port}/hook",
                    f"https://127.0.0.1:{receiver.port}/hook",
                    f"https://[::ffff:127.0.0.1]:{receiver.port}/hook"):
            with pytest.raises(RefusedTarget) as caught:
                await post(settings, dns, url, content=b"{}", headers={}, timeout=2)
            assert caught.value.reason == "FORBIDDEN_ADDRESS"
    assert receiver.connections == 0


async def test_the_loopback_setting_allows_loopback_only(local: Settings, dns: Dns,
                                                         zone: Zone) -> None:
    target = await check_target(local, dns, "http://127.0.0.1:8123/hook")
    assert (target.address, target.port, target.scheme) == ("127.0.0.1", 8123, "http")
    assert (await check_target(local, dns, "http://[::1]:8123/")).address == "::1"
    zone.address("dev.example.test", "127.0.0.1")
    assert (await check_target(local, dns, "https://dev.example.test:9999/")).port == 9999
    for address in ("10.0.0.1", "169.254.169.254", "::ffff:127.0.0.1", "192.168.0.10",
                    "fd00::1", "0.0.0.0"):
        zone.address("dev.example.test", address)
        error = await refused(local, dns, "http://dev.example.test/")
        assert error.reason == "FORBIDDEN_ADDRESS", (address, error)
    # Ports stay limited for addresses that are not loopback.
    zone.address("dev.example.test", "93.184.215.14")
    assert (await refused(local, dns, "http://dev.example.test:8080/")).reason == "PORT"
    assert (await check_target(local, dns, "http://dev.example.test/")).port == 80


async def test_hostnames_are_normalised(strict: Settings, dns: Dns, zone: Zone) -> None:
    zone.address("hooks.example.test", "93.184.215.14")
    target = await check_target(strict, dns, "https://HOOKS.Example.TEST./a")
    assert target.hostname == "hooks.example.test"
    zone.address("xn--bcher-kva.test", "93.184.215.14")
    assert (await check_target(strict, dns, "https://bücher.test/")).hostname \
        == "xn--bcher-kva.test"


@settings_(max_examples=300, deadline=None,
           suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(url=st.one_of(
    st.text(max_size=80),
    st.builds(lambda scheme, host, rest: f"{scheme}://{host}{rest}",
              st.sampled_from(["https", "http", "HTTPS", "ftp", ""]),
              st.text(alphabet="0123456789abcdefx.:[]%@-_\\/ \u00e9\u3002\uff0e", max_size=40),
              st.sampled_from(["", "/", "/a?b=c", ":443/", ":0/", "#f", "@x"]))))
async def test_any_text_is_either_a_target_or_refused(strict: Settings, dns: Dns, zone: Zone,
                                                      url: str) -> None:
    try:
        target = await check_target(strict, dns, url)
    except RefusedTarget as error:
        assert error.reason in REASONS and str(error)
    else:
        assert target.scheme == "https" and target.port in strict.webhook_ports
        assert forbidden(ipaddress.ip_address(target.address)) is None
