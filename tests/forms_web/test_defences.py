"""The lead forms' bot checks on their own (`auth/form_defences.py`): the keys per-network
limits count under, origins, the signed render time, the proof of work and its replay store,
and the verdict. The HTTP tests (`test_submit.py`) drive the same checks through the endpoint;
these pin the edges that are awkward to reach from there."""

from __future__ import annotations

import base64
import time

import altcha
import orjson
import pytest
from limits.aio.storage import MemoryStorage

from auth.form_defences import (
    FormDefences,
    Signal,
    Submitted,
    Verdict,
    client_network,
    content_signals,
    origin_of,
    sender_origin,
    verdict,
)
from core.settings import Settings

pytestmark = pytest.mark.no_db


def defences(**changes: object) -> FormDefences:
    return FormDefences(Settings(env="test", **changes),  # type: ignore[arg-type]
                        storage=MemoryStorage())


def solved(challenge: dict) -> str:
    found = altcha.Challenge.from_dict(challenge)
    solution = altcha.solve_challenge(found)
    assert solution is not None
    return altcha.Payload(found, solution).to_base64()


@pytest.mark.parametrize(("ip", "key"), [
    ("203.0.113.7", "203.0.113.7"),
    ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
    ("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"),  # the same subscriber's /64
    ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
    ("::ffff:198.51.100.4", "198.51.100.4"),
    (None, "unknown"),
])
def test_the_network_a_client_counts_under(ip: str | None, key: str) -> None:
    assert client_network(ip) == key


@pytest.mark.parametrize(("url", "origin"), [
    ("https://www.example.com/contact?x=1", "https://www.example.com"),
    ("HTTPS://WWW.Example.com:443/", "https://www.example.com"),
    ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
    ("null", None),
    ("javascript:alert(1)", None),
    ("https://user:pw@example.com", None),
    ("https://example.com:99999", None),
    ("", None),
    ("https://[::1]:8443/x", "https://[::1]:8443"),
    ("https://x; script-src *", None),  # would add a directive to a policy
    ("https://a;b.example", None),
    ("https://exa mple.com", None),
    ("https://[not:an:address]", None),
])
def test_origins_are_compared_in_one_form(url: str, origin: str | None) -> None:
    assert origin_of(url) == origin


def test_the_origin_header_wins_over_the_referer() -> None:
    assert sender_origin("https://a.example", "https://b.example/x") == "https://a.example"
    assert sender_origin(None, "https://b.example/x") == "https://b.example"
    assert sender_origin("null", "https://b.example/x") is None


@pytest.mark.parametrize(("name", "signals"), [
    ("Ada Lovelace", []),
    ("Jean-Luc O'Brien", []),
    ("José Álvarez", []),
    ("Cheap pills http://spam.example", [Signal.URL_IN_NAME]),
    ("visit www.spam", [Signal.URL_IN_NAME]),
    ("buy now spam.ru", [Signal.URL_IN_NAME]),
    ("<a>Ada</a>", [Signal.MARKUP_IN_NAME]),
    ("[url=x]Ada[/url]", [Signal.MARKUP_IN_NAME]),
])
def test_content_signals_in_a_name(name: str, signals: list[Signal]) -> None:
    assert content_signals(name) == signals


def test_a_stamp_is_good_between_the_minimum_and_the_maximum_age() -> None:
    guard = defences(form_min_seconds=2.0, form_max_age_hours=24)
    now = time.time()
    stamp = guard.stamp("form-a", now)
    assert guard.stamp_signal("form-a", stamp, now + 1.9) is Signal.TOO_FAST
    assert guard.stamp_signal("form-a", stamp, now + 2.1) is None
    assert guard.stamp_signal("form-a", stamp, now + 24 * 3600 - 1) is None
    assert guard.stamp_signal("form-a", stamp, now + 24 * 3600 + 1) is Signal.TOO_OLD
    assert guard.stamp_signal("form-b", stamp, now + 5) is Signal.NO_STAMP  # another form's
    millis, _, signature = stamp.partition(".")
    older = f"{int(millis) - 10_000}.{signature}"  # moved back in time: the HMAC breaks
    assert guard.stamp_signal("form-a", older, now + 1) is Signal.NO_STAMP
    for junk in (None, "", "abc", "1.2.3", "9" * 40 + ".x"):
        assert guard.stamp_signal("form-a", junk, now) is Signal.NO_STAMP
    # Another server secret signs other stamps.
    assert defences(secret_key="another-secret-" * 3).stamp_signal(
        "form-a", stamp, now + 5) is Signal.NO_STAMP


async def test_a_solved_challenge_is_spent_once_and_only_for_its_form() -> None:
    guard = defences(form_challenge_digits=2)
    challenge = guard.challenge("form-a")
    assert challenge["parameters"]["keyPrefix"] == "00"
    assert challenge["parameters"]["data"] == {"form": "form-a"}
    payload = solved(challenge)
    assert await guard.challenge_signal("form-b", payload) is Signal.CHALLENGE_INVALID
    assert await guard.challenge_signal("form-a", payload) is None
    assert await guard.challenge_signal("form-a", payload) is Signal.CHALLENGE_REPLAYED
    assert await guard.challenge_signal("form-a", None) is Signal.NO_CHALLENGE


async def test_forged_expired_and_malformed_proofs_are_invalid_never_an_error() -> None:
    guard = defences(form_challenge_digits=1)
    # Signed with another key.
    forged = altcha.create_challenge("SHA-256", 1, key_prefix="0", data={"form": "form-a"},
                                     expires_at=int(time.time()) + 60, hmac_secret="guess")
    # Expired (signed by us: a challenge from a page older than FORM_MAX_AGE_HOURS).
    expired = guard.challenge("form-a", now=time.time() - 25 * 3600)
    # A wrong counter for a real challenge.
    real = orjson.loads(base64.b64decode(solved(guard.challenge("form-a"))))
    real["solution"]["counter"] += 1
    wrong = base64.b64encode(orjson.dumps(real)).decode()
    cases = [solved(forged.to_dict()), solved(expired), wrong, "not base64!",
             base64.b64encode(b"[]").decode(), base64.b64encode(b'{"challenge": 1}').decode(),
             base64.b64encode(b'{"challenge": {"parameters": [], "signature": 5}, '
                              b'"solution": {}}').decode(), "A" * 5000]
    for payload in cases:
        assert await guard.challenge_signal("form-a", payload) is Signal.CHALLENGE_INVALID


async def test_assess_names_every_failed_check_and_spends_no_proof_of_a_failed_one() -> None:
    guard = defences(form_challenge_digits=1)
    now = time.time()
    good = Submitted(public_id="form-a", honeypot="", stamp=guard.stamp("form-a", now - 5),
                     challenge=solved(guard.challenge("form-a")),
                     origin="https://shop.example", name="Ada")
    allowed = ["https://shop.example/", "http://testserver"]
    bad = Submitted(public_id="form-a", honeypot="http://x", stamp=guard.stamp("form-a", now),
                    challenge=good.challenge, origin="https://evil.example",
                    name="<b>x</b> www.x")
    signals = await guard.assess(bad, allowed, now=now)
    assert signals == [Signal.HONEYPOT, Signal.TOO_FAST, Signal.ORIGIN, Signal.URL_IN_NAME,
                       Signal.MARKUP_IN_NAME]
    assert verdict(signals) is Verdict.SPAM
    # The failed submission did not spend the proof: the good one still passes, once.
    assert await guard.assess(good, allowed, now=now) == []
    assert await guard.assess(good, allowed, now=now) == [Signal.CHALLENGE_REPLAYED]
    held = Submitted(**{**good.__dict__, "challenge": None})
    assert await guard.assess(held, allowed, now=now) == [Signal.NO_CHALLENGE]
    assert verdict([Signal.NO_CHALLENGE]) is Verdict.HELD
    assert verdict([]) is Verdict.ACCEPTED
    no_origin = Submitted(**{**good.__dict__, "challenge": None, "origin": None})
    assert await guard.assess(no_origin, allowed, now=now) == [Signal.ORIGIN,
                                                               Signal.NO_CHALLENGE]


async def test_rate_limits_count_a_network_then_the_form() -> None:
    guard = defences(form_rate_per_ip="2/minute", form_rate_per_form="3/minute")
    assert await guard.hit("form-a", "2001:db8::1") is None
    assert await guard.hit("form-a", "2001:db8::2") is None  # same /64
    refused = await guard.hit("form-a", "2001:db8::3")
    assert refused is not None and refused.budget == "per_network"
    assert 1 <= refused.retry_after <= 60
    assert await guard.hit("form-a", "198.51.100.1") is None  # the form's third
    refused = await guard.hit("form-a", "198.51.100.2")
    assert refused is not None and refused.budget == "per_form"
    assert await guard.hit("form-b", "198.51.100.2") is None  # another form's budget
