"""DNS lookups for the custom-domain checks, through dnspython, against the resolvers of
`DNS_NAMESERVERS` (or the system's): what a check saw, never an exception.

    dns = Dns(settings)
    seen = await dns.lookup("_relleks-challenge.forms.example.com", "TXT")
    seen.values, seen.outcome   # ["rlk-dv-..."], "answer"; or [], "nxdomain" / "error"
    found = await dns.addresses("hooks.example.com")   # A and AAAA together (services/outbound.py)

Every lookup is bounded by `DNS_TIMEOUT` and uses no cache (a check reports what DNS says
now). Record values are the tenant's text: each is cut to 255 characters with non-printable
characters escaped, and at most `MAX_VALUES` are kept.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Literal

import dns.asyncresolver
import dns.exception
import dns.nameserver
import dns.rdatatype
import dns.resolver

from core.settings import Settings, nameserver

Outcome = Literal["answer", "nxdomain", "no_answer", "error"]
MAX_VALUES = 10
VALUE_MAX = 255


@dataclass(frozen=True)
class Lookup:
    """One question and what came back."""

    name: str
    type: str
    outcome: Outcome
    values: list[str] = field(default_factory=list)
    error: str | None = None

    def as_record(self) -> dict[str, object]:
        """As stored in `custom_domains.observed_records` and shown by the API."""
        return {"type": self.type, "name": self.name, "outcome": self.outcome,
                "values": self.values, "error": self.error}


def printable(text: str) -> str:
    """`text` cut to VALUE_MAX with every non-printable character escaped (`\\x07`)."""
    text = text[:VALUE_MAX]
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


class Dns:
    """The resolver the checks use, configured once per process."""

    def __init__(self, settings: Settings) -> None:
        self.timeout = settings.dns_timeout
        self.configured = settings.dns_nameservers
        self._resolver: dns.asyncresolver.Resolver | None = None

    @property
    def described(self) -> str:
        """The nameservers asked, for the check's record: `127.0.0.1:5353` or `system`."""
        if self.configured:
            return ",".join(self.configured)
        try:
            servers = self.resolver().nameservers
        except dns.exception.DNSException:
            return "system (none configured)"
        return "system: " + ",".join(str(s) for s in servers)

    def resolver(self) -> dns.asyncresolver.Resolver:
        if self._resolver is None:
            resolver = dns.asyncresolver.Resolver(configure=not self.configured)
            if self.configured:
                resolver.nameservers = [
                    dns.nameserver.Do53Nameserver(host, port)
                    for host, port in map(nameserver, self.configured)]
            resolver.cache = None
            resolver.lifetime = self.timeout
            resolver.timeout = self.timeout
            self._resolver = resolver
        return self._resolver

    async def addresses(self, name: str) -> list[Lookup]:
        """The A and the AAAA lookups of `name`, asked together: the addresses a connection
        to it could reach (`services/outbound.py` checks every one)."""
        found = await asyncio.gather(self.lookup(name, "A"), self.lookup(name, "AAAA"))
        return list(found)

    async def lookup(self, name: str, rdtype: Literal["TXT", "CNAME", "A", "AAAA"]) -> Lookup:
        """Ask for `rdtype` records at `name`; a failure is an outcome, not an exception."""
        try:
            answer = await self.resolver().resolve(name, rdtype, raise_on_no_answer=False,
                                                   search=False)
        except dns.resolver.NXDOMAIN:
            return Lookup(name, rdtype, "nxdomain")
        except dns.exception.Timeout:
            return Lookup(name, rdtype, "error", error=f"no answer within {self.timeout:g} s")
        except dns.resolver.NoNameservers:
            return Lookup(name, rdtype, "error", error="the nameservers failed to answer "
                                                       "(SERVFAIL or refused)")
        except dns.exception.DNSException as exc:
            return Lookup(name, rdtype, "error", error=printable(type(exc).__name__))
        rrset = answer.rrset
        if rrset is None:
            return Lookup(name, rdtype, "no_answer")
        values = []
        for rdata in list(rrset)[:MAX_VALUES]:
            if rdata.rdtype != dns.rdatatype.from_text(rdtype):
                continue  # a CNAME on the way to the A or AAAA records asked for
            if rdata.rdtype == dns.rdatatype.TXT:
                text = b"".join(rdata.strings).decode("utf-8", errors="replace")
            elif rdata.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
                text = rdata.address
            else:
                text = rdata.target.to_text(omit_final_dot=True).lower()
            values.append(printable(text))
        return Lookup(name, rdtype, "answer", values=values)
