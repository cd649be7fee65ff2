"""A real authoritative DNS server on 127.0.0.1 for tests (dnslib), holding a zone the tests
change as a tenant would at their DNS provider.

The app asks it through dnspython (`DNS_NAMESERVERS=127.0.0.1:<port>`), exactly as it asks a
real resolver in production. The `dns_server` and `zone` fixtures live in
`tests/domains/conftest.py`.

    zone.txt("_relleks-challenge.forms.example.com", "rlk-dv-...")
    zone.cname("forms.example.com", "sites.relleks-test.net")
    zone.address("hooks.example.com", "203.0.113.7", "2001:db8::7")   # A and AAAA records
    (an A or AAAA question about a name with a CNAME gets the CNAME and its target's records)
    zone.servfail("broken.example.com")      # every question about it: SERVFAIL
    zone.remove("forms.example.com")          # the record is gone (NXDOMAIN)
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from dnslib import AAAA, CNAME, QTYPE, RCODE, RR, TXT, A, DNSRecord
from dnslib.server import DNSLogger, DNSServer


class Zone:
    """The records the server answers with, by (name, type); everything else is NXDOMAIN,
    or NOERROR without answers when the name has records of another type."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], list[str]] = {}
        self.failing: set[str] = set()
        self.questions: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def reset(self) -> None:
        with self.lock:
            self.records.clear()
            self.failing.clear()
            self.questions.clear()

    def txt(self, name: str, *values: str) -> None:
        with self.lock:
            self.records[(name.lower().rstrip("."), "TXT")] = list(values)

    def cname(self, name: str, target: str) -> None:
        with self.lock:
            self.records[(name.lower().rstrip("."), "CNAME")] = [target]

    def address(self, name: str, *addresses: str) -> None:
        """A records for the IPv4 and AAAA records for the IPv6 `addresses` (replacing both)."""
        key = name.lower().rstrip(".")
        v4 = [a for a in addresses if ipaddress.ip_address(a).version == 4]
        v6 = [a for a in addresses if ipaddress.ip_address(a).version == 6]
        with self.lock:
            for rtype, values in (("A", v4), ("AAAA", v6)):
                if values:
                    self.records[(key, rtype)] = values
                else:
                    self.records.pop((key, rtype), None)

    def remove(self, name: str, rtype: str | None = None) -> None:
        with self.lock:
            for key in list(self.records):
                if key[0] == name.lower().rstrip(".") and rtype in (None, key[1]):
                    del self.records[key]

    def servfail(self, name: str) -> None:
        with self.lock:
            self.failing.add(name.lower().rstrip("."))

    def asked(self, name: str) -> int:
        """How many questions about `name` the server got."""
        with self.lock:
            return sum(1 for asked, _ in self.questions if asked == name.lower().rstrip("."))

    # dnslib's resolver interface
    def resolve(self, request: DNSRecord, handler: Any) -> DNSRecord:
        reply = request.reply()
        name = str(request.q.qname).lower().rstrip(".")
        rtype = QTYPE[request.q.qtype]
        with self.lock:
            self.questions.append((name, rtype))
            if name in self.failing:
                reply.header.rcode = RCODE.SERVFAIL
                return reply
            values = list(self.records.get((name, rtype), []))
            exists = any(key[0] == name for key in self.records)
            owner = name
            alias = self.records.get((name, "CNAME"))
            if not values and alias and rtype in ("A", "AAAA"):
                # As a recursive resolver answers: the CNAME, then its target's addresses.
                reply.add_answer(RR(request.q.qname, QTYPE.CNAME, rdata=CNAME(alias[0] + "."),
                                    ttl=60))
                owner = alias[0]
                values = list(self.records.get((owner, rtype), []))
        for value in values:
            data: Any
            if rtype == "TXT":
                data = TXT(value)
            elif rtype == "A":
                data = A(value)
            elif rtype == "AAAA":
                data = AAAA(list(ipaddress.IPv6Address(value).packed))
            else:
                data = CNAME(value + ".")
            reply.add_answer(RR(owner + ".", getattr(QTYPE, rtype), rdata=data, ttl=60))
        if not values and not exists:
            reply.header.rcode = RCODE.NXDOMAIN
        return reply


@contextmanager
def dns_server() -> Iterator[tuple[Zone, int]]:
    """The server on a free UDP port of 127.0.0.1, in a thread; its zone and port."""
    zone = Zone()
    port = free_udp_port()
    server = DNSServer(zone, address="127.0.0.1", port=port,
                       logger=DNSLogger(logf=lambda *_: None))
    server.start_thread()
    try:
        yield zone, port
    finally:
        server.stop()
        server.server.server_close()


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def silent_nameserver() -> Iterator[int]:
    """A UDP port that takes questions and never answers: a resolver that times out."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]
