"""Data minimisation before anything leaves for an AI provider (issue 20, "Minimise before
sending"): the lead's email, phone and address, any email or phone number in note text, and
the names of the org's members are replaced by placeholders.

    context, manifest = minimise_lead(lead_name="Ada", company="Acme", status="new",
        source="form", created_at="2026-11-02", email="ada@acme.test", phone="+1 555 010 0199",
        address_parts=["1 Main St", "Springfield"], notes=["Call her at 555-010-0199"],
        member_names=["Bob Stone"], lead_id="TGVhZDox")
    context.notes      # ["Call her at [PHONE_1]"]
    manifest           # ["lead.name", "lead.company", ..., NOTES_MANIFEST.format(1)]

Why placeholders and not deletion: the model still sees that a note mentions a phone number
and can say "call [PHONE_1]"; the member who reads the draft knows what it stands for. The
values behind the placeholders live only in a `_Masker` during one call, never in the
`LeadContext`. Masking errs towards too much: a long number or a lookalike is masked too.
"""

from __future__ import annotations

import re

import phonenumbers

from core.redaction import EMAIL, LOOSE_PHONE, looks_like_phone
from services.ai.types import LeadContext

MAX_NOTES = 20
NOTE_MAX_CHARS = 2_000
DEFAULT_REGION = "US"
MEMBER = "[MEMBER]"
# The email and phone patterns are the one redaction policy's (`core/redaction.py`, also used
# by the logs, spans and error reports): one list of what is personal, here masked with
# placeholders instead of `[redacted]`.
MIN_PART = 3
"""Shorter address or name parts ("US", "Jo") are not masked on their own: they would mask
ordinary words everywhere."""
MANIFEST_FIELDS = ("lead.name", "lead.company", "lead.status", "lead.source", "lead.createdAt")
"""The data manifest's names, in order (docs/ai-providers.md)."""
NOTES_MANIFEST = "note.body\N{MULTIPLICATION SIGN}{}"
"""The manifest's entry for N notes sent, e.g. "note.body" + MULTIPLICATION SIGN + "3"."""


def _looks_like_phone(candidate: str) -> bool:
    return looks_like_phone(candidate)


def _pattern(value: str) -> re.Pattern[str]:
    """`value` on word boundaries, any whitespace between its words. Several words, or digits:
    in any case ("12 babbage  row"). One plain word: as written, in Title or UPPER case only,
    so a member called Will or a town called Reading does not mask "will" or "reading"."""
    words = value.split()
    if len(words) > 1 or any(ch.isdigit() for ch in value):
        body = r"\s+".join(re.escape(word) for word in words)
        return re.compile(rf"(?<!\w){body}(?!\w)", re.IGNORECASE)
    spellings = "|".join(re.escape(s) for s in sorted({value, value.title(), value.upper()}))
    return re.compile(rf"(?<!\w)(?:{spellings})(?!\w)")


def _without_house_number(part: str) -> str:
    """"12 Babbage Row" -> "Babbage Row", "Hauptstraße 5a" -> "Hauptstraße": a note may
    name the street without the number, or put it on the other side."""
    return re.sub(r"^\d+\w*,?\s+|,?\s+\d+\w*$", "", part)


class _Masker:
    """Masks texts of one call, so one value gets one placeholder in all of them."""

    def __init__(self, *, region: str | None, member_names: list[str], lead_name: str = "",
                 email: str | None = None, phone: str | None = None,
                 address_parts: list[str] | None = None) -> None:
        self.region = (region or DEFAULT_REGION).upper()
        self.counts: dict[str, int] = {}
        self.known: dict[tuple[str, str], str] = {}
        self.used: dict[str, str] = {}
        if email:
            self._placeholder("email", email.strip().lower())
        self.lead_phone = self._phone_key(phone) if phone else None
        if self.lead_phone:
            self._placeholder("phone", self.lead_phone)
        self.address: list[tuple[re.Pattern[str], str]] = []
        for part in dict.fromkeys(" ".join(p.split()) for p in address_parts or []):
            for variant in dict.fromkeys([part, _without_house_number(part)]):
                if len(variant) >= MIN_PART:
                    self._placeholder("address", part.lower())  # numbered in the given order
                    self.address.append((_pattern(variant), part.lower()))
        self.address.sort(key=lambda item: (-len(item[0].pattern), item[0].pattern))
        lead_words = {word.lower() for word in lead_name.split()}
        names: set[str] = set()
        for name in member_names:
            if len(name.strip()) >= MIN_PART:
                names.add(" ".join(name.split()))
            names |= {word for word in name.split()
                      if len(word) >= MIN_PART and word.lower() not in lead_words}
        self.members = [_pattern(name) for name in sorted(names, key=lambda n: (-len(n), n))]

    def _placeholder(self, kind: str, key: str) -> str:
        if (kind, key) not in self.known:
            self.counts[kind] = self.counts.get(kind, 0) + 1
            self.known[kind, key] = f"[{kind.upper()}_{self.counts[kind]}]"
        return self.known[kind, key]

    def _use(self, kind: str, key: str) -> str:
        placeholder = self._placeholder(kind, key)
        self.used[placeholder] = kind
        return placeholder

    def _phone_key(self, text: str) -> str:
        """E.164 when the number parses (so two spellings of one number match), else its
        digits."""
        try:
            number = phonenumbers.parse(text, self.region)
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        except phonenumbers.NumberParseException:
            return "".join(ch for ch in text if ch.isdigit())

    def _mask_phones(self, text: str) -> str:
        """Valid numbers first (phonenumbers' matcher: any format, separated runs), then
        anything left that looks like one (`LOOSE_PHONE`: other countries' numbers written
        without their code, invalid or fictional numbers)."""
        found = [(m.start, m.end) for m in phonenumbers.PhoneNumberMatcher(
            text, self.region, leniency=phonenumbers.Leniency.VALID)]
        for start, end in reversed(found):
            text = text[:start] + self._use("phone", self._phone_key(text[start:end])) + text[end:]
        return LOOSE_PHONE.sub(lambda m: self._use("phone", self._phone_key(m.group()))
                               if _looks_like_phone(m.group()) else m.group(), text)

    def mask(self, text: str, *, people: bool = True) -> str:
        """Emails, then the lead's address, then phone numbers, then members' names (emails
        first: their digits are not phone numbers; the address before phones: a house
        number and postal code are not either). `people=False` (the lead's own name): only
        emails and phone numbers, so "Paris Hilton" of Paris keeps her name."""
        text = EMAIL.sub(lambda m: self._use("email", m.group().lower()), text)
        for pattern, key in self.address if people else []:
            if pattern.search(text):
                text = pattern.sub(self._use("address", key), text)
        text = self._mask_phones(text)
        for pattern in self.members if people else []:
            if pattern.search(text):
                text = pattern.sub(MEMBER, text)
                self.used[MEMBER] = "member"
        return text


def minimise_lead(*, lead_name: str, company: str | None, status: str, source: str | None,
                  created_at: str, email: str | None, phone: str | None,
                  address_parts: list[str], notes: list[str], member_names: list[str],
                  lead_id: str, region: str | None = None) -> tuple[LeadContext, list[str]]:
    """The lead as a provider may see it, and the data manifest (the names of the fields
    sent). `notes` newest first: the first `MAX_NOTES` are kept, each masked and then cut to
    `NOTE_MAX_CHARS`. `region`: the lead's country (ISO 3166 alpha-2) for reading phone
    numbers written without a country code; "US" when unknown."""
    masker = _Masker(region=region, member_names=member_names, lead_name=lead_name,
                     email=email, phone=phone, address_parts=address_parts)
    masked_company = masker.mask(company) if company else None
    masked_source = masker.mask(source) if source else None
    kept = [masker.mask(note)[:NOTE_MAX_CHARS] for note in notes[:MAX_NOTES]]
    context = LeadContext(lead_id=lead_id, name=masker.mask(lead_name, people=False),
                          company=masked_company, status=status, source=masked_source,
                          created_at=created_at, notes=kept, placeholders=dict(masker.used))
    present = {"lead.name": True, "lead.company": masked_company is not None,
               "lead.status": True, "lead.source": masked_source is not None,
               "lead.createdAt": True}
    manifest = [name for name in MANIFEST_FIELDS if present[name]]
    if kept:
        manifest.append(NOTES_MANIFEST.format(len(kept)))
    return context, manifest


def mask_text(text: str, *, member_names: list[str], region: str | None = None,
              email: str | None = None, phone: str | None = None,
              address_parts: list[str] | None = None) -> str:
    """`text` (a draft's purpose) with emails, phone numbers and members' names masked; pass
    the lead's email, phone and address too and they get the same placeholders as in
    `minimise_lead`."""
    return _Masker(region=region, member_names=member_names, email=email, phone=phone,
                   address_parts=address_parts).mask(text)
