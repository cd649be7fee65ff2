"""Input validation: one set of rules for what clients type, and every bad field reported at once.

Every mutation checks its input through a `Checks` object: each rule cleans one value and, when
the value is bad, records a problem under the field's GraphQL input path (camelCase, dotted for
nested inputs: `address.postalCode`) instead of raising. Leaving `validate()` raises a single
BAD_USER_INPUT whose `extensions.fields` names every bad field, so a client fixes all of them in
one round trip; nothing has been written by then::

    with validate() as check:
        name = check.name("name", input.name, max_length=200)
        email = check.email("email", input.email)
        phone = check.phone("phone", input.phone, region="DE")
    # here every value is clean; a bad one raised BadUserInput({"name": ..., "email": ...})

The rules (the README's "Validation" lists them for clients):

- **Characters** (names, single-line text, tags): no control characters (C0, C1, NUL, which
  PostgreSQL cannot store) and no invisible format characters (bidi overrides and isolates such as
  U+202E, zero-width characters such as U+200B, U+FEFF) nor lone surrogates: they make text read
  otherwise than it is. Tabs and line breaks count as whitespace: every run of whitespace becomes
  one space and the ends are trimmed.
- `name`: a name shown to others (a person, organization, lead, API token, OAuth app): the
  character rule, not empty, at most `max_length`; with `links=False` nothing that reads as a web
  address (`looks_like_link`).
- `text`: optional single-line free text (company, title, address parts): the name rules; empty
  or only whitespace is None.
- `multiline`: free text with lines (note bodies): line breaks and tabs kept (ends trimmed),
  every other control or invisible character refused, not empty, at most `max_length`.
- `email`: a syntactically valid address (email-validator, no DNS lookup), normalised and lower
  case, at most 320 characters.
- `phone`: a valid number for the default region, stored as E.164 (`+4930123456`).
- `country`: an ISO 3166-1 alpha-2 code, upper case. `slug`, `tags` and `one_of` as documented.
- `hostname`: a public DNS name of at least two labels (a custom domain), as IDNA A-labels in
  lower case without a trailing dot; no IP address, port, scheme, path or special-use name
  (`localhost`, `.local`, `.test`...), and none of the hosts given as `refused` nor a name under
  or above one of them (our own hosts).

A check that lives elsewhere and raises BadUserInput itself (a password's strength, scope names)
joins through `Checks.call`, so its problem is reported with the others.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import idna
import phonenumbers
from email_validator import EmailNotValidError, validate_email

from core.countries import COUNTRY_CODES
from core.errors import BadUserInput

T = TypeVar("T")

EMAIL_MAX = 320  # the length of the email columns
TAG_MAX, MAX_TAGS = 50, 20
SLUG_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
SLUG_MIN, SLUG_MAX = 3, 48
RESERVED_SLUGS = frozenset({
    "api", "www", "admin", "app", "apps", "auth", "billing", "blog", "dashboard", "docs", "graphql",
    "help", "login", "logout", "mail", "media", "new", "oauth", "relleks", "root", "settings",
    "signup", "static", "status", "support", "system", "webhooks",
})

HOSTNAME_MAX, LABEL_MAX = 253, 63
HOSTNAME_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
SPECIAL_USE_SUFFIXES = frozenset({
    "localhost", "local", "localdomain", "test", "example", "invalid", "internal", "intranet",
    "arpa", "onion", "home", "lan", "corp", "private", "alt",
})
"""Top-level names that are never public (RFC 6761, 6762, 7686, 9476 and common private use)."""

WHITESPACE_CONTROLS = frozenset("\t\n\r\x0b\x0c")
"""The control characters that are ordinary whitespace in typed text: in a name or single-line
text they become a space; in multiline text line breaks and tabs stay."""
LINE_CONTROLS = frozenset("\t\n\r")
"""The control characters multiline text keeps."""

# What reads as an address to a mail client or a browser, matched after NFKC (which folds the
# full-width forms, the one-dot leader and the halfwidth ideographic stop into `.` and `。`).
LINK_LIKE = re.compile(
    r"\w:[/\\]"  # a scheme: http://, https:\\, ftp://
    r"|(?<![^\W_])www\d*[.。]"  # www.
    r"|[^\W_][.。][^\W\d_][^\W_]"  # a dot joining words: evil.example, x.ai, St.Pauli
    r"|\d+[.。]\d+[.。]\d+[.。]\d+",  # an IPv4 address
    re.IGNORECASE)

INVISIBLE = ("must not contain control characters (line breaks and tabs aside) or invisible "
             "formatting characters")
EMPTY = "must not be empty"
NO_LINKS = ("must not look like a web address (no `http://`, no `www.`, no dot directly "
            "followed by two letters or digits as in `example.com`)")
NOT_NULL = "cannot be null: leave it out to keep it unchanged"


def invisible(char: str) -> bool:
    """Control characters (C0, C1, NUL among them, which PostgreSQL cannot store) and format
    characters: bidi overrides and isolates (U+202A-U+202E, U+2066-U+2069), zero-width
    characters (U+200B-U+200D, U+2060, U+FEFF) and the like, which make text read otherwise than
    it is. Lone surrogates too, which no database stores."""
    return unicodedata.category(char) in {"Cc", "Cf", "Cs"}


def hides_characters(text: str, allowed: Collection[str] = WHITESPACE_CONTROLS) -> bool:
    """Whether `text` holds an `invisible` character other than those `allowed`."""
    return any(invisible(char) and char not in allowed for char in text)


def without_invisible(text: str) -> str:
    """`text` with its invisible characters dropped (whitespace controls kept), for text that is
    searched with rather than stored: a filter term, a tag to match."""
    return "".join(char for char in text if not invisible(char) or char in WHITESPACE_CONTROLS)


def looks_like_link(text: str) -> bool:
    """Whether `text` holds something a mail client or browser may read as an address."""
    return LINK_LIKE.search(unicodedata.normalize("NFKC", text)) is not None


def blank(value: str | None) -> bool:
    """None, empty or only whitespace: an optional field left empty. (A value of invisible
    characters alone is not blank: it is refused as such.)"""
    return value is None or (not value.strip() and not hides_characters(value))


def too_long(max_length: int) -> str:
    return f"must be at most {max_length:,} characters"


class Checks:
    """The problems found in one input, by field; each rule returns the cleaned value (or, for a
    bad one, its best reading, which is never written: `raise_problems` runs first).

    A field keeps its first problem: later checks of the same field do not overwrite it.
    """

    def __init__(self) -> None:
        self.problems: dict[str, str] = {}
        self._extensions: dict[str, Any] = {}

    def add(self, field: str, problem: str) -> None:
        """Record `problem` for `field` (unless it already has one)."""
        self.problems.setdefault(field, problem)

    def require(self, field: str, condition: bool, problem: str) -> bool:
        """Record `problem` unless `condition` holds; returns `condition`."""
        if not condition:
            self.add(field, problem)
        return condition

    def call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        """Run a check that raises BadUserInput itself: its problems join these, and its other
        extensions (a `reason`) go on the error raised; None then."""
        try:
            return function(*args, **kwargs)
        except BadUserInput as exc:
            extensions = dict(exc.extensions or {})
            fields = extensions.pop("fields", None) or {"input": exc.message}
            extensions.pop("code", None)
            for field, problem in fields.items():
                self.add(field, problem)
            for key, value in extensions.items():
                self._extensions.setdefault(key, value)
            return None

    def raise_problems(self) -> None:
        """One BAD_USER_INPUT naming every bad field, if any."""
        if not self.problems:
            return
        message = "; ".join(f"{field}: {problem}" for field, problem in self.problems.items())
        raise BadUserInput(message, self.problems, **self._extensions)

    # The rules.

    def name(self, field: str, value: str, *, max_length: int, links: bool = True) -> str:
        """A name shown to others: the character rule, whitespace collapsed, not empty, at most
        `max_length`, and with `links=False` nothing `looks_like_link`."""
        if hides_characters(value):
            self.add(field, INVISIBLE)
        name = " ".join(value.split())
        if not name:
            self.add(field, EMPTY)
        elif len(name) > max_length:
            self.add(field, too_long(max_length))
        elif not links and looks_like_link(name):
            self.add(field, NO_LINKS)
        return name

    def text(self, field: str, value: str | None, *, max_length: int) -> str | None:
        """Optional single-line text: the name rules, but empty (or None) is None."""
        if value is None or blank(value):
            return None
        return self.name(field, value, max_length=max_length)

    def multiline(self, field: str, value: str, *, max_length: int) -> str:
        """Text with lines: line breaks and tabs kept, the ends trimmed, any other control or
        invisible character refused, not empty, at most `max_length`."""
        text = value.strip()
        if hides_characters(value, LINE_CONTROLS):
            self.add(field, INVISIBLE)
        if not text:
            self.add(field, EMPTY)
        elif len(text) > max_length:
            self.add(field, too_long(max_length))
        return text

    def email(self, field: str, value: str) -> str:
        """A valid address, normalised to lower case (no DNS lookup)."""
        address = value.strip()
        if not address:
            self.add(field, EMPTY)
            return address
        if len(address) > EMAIL_MAX:
            self.add(field, too_long(EMAIL_MAX))
            return address
        try:
            valid = validate_email(address, check_deliverability=False)
        except EmailNotValidError as exc:
            self.add(field, str(exc))
            return address
        return valid.normalized.lower()

    def optional_email(self, field: str, value: str | None) -> str | None:
        """`email`, but empty (or None) is None."""
        if value is None or blank(value):
            return None
        return self.email(field, value)

    def phone(self, field: str, value: str | None, *, region: str) -> str | None:
        """An optional phone number, valid in `region` when it has no country code, as E.164."""
        if value is None or blank(value):
            return None
        if hides_characters(value):
            self.add(field, INVISIBLE)
            return value
        try:
            number = phonenumbers.parse(value, region)
        except phonenumbers.NumberParseException as exc:
            self.add(field, f"is not a phone number ({exc._msg})")
            return value
        if not phonenumbers.is_valid_number(number):
            self.add(field, f"is not a valid phone number (default region {region})")
            return value
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    def country(self, field: str, value: str | None) -> str | None:
        """An optional ISO 3166-1 alpha-2 code, upper case."""
        if blank(value):
            return None
        code = (value or "").strip().upper()
        self.require(field, code in COUNTRY_CODES,
                     "must be an ISO 3166-1 alpha-2 code such as US or DE")
        return code

    def slug(self, field: str, value: str) -> str:
        """3 to 48 lowercase letters, digits and single hyphens, not a reserved word."""
        slug = value.strip()
        if not SLUG_MIN <= len(slug) <= SLUG_MAX:
            self.add(field, f"must be {SLUG_MIN} to {SLUG_MAX} characters long")
        elif not SLUG_PATTERN.match(slug) or "--" in slug:
            self.add(field, "may hold only lowercase letters, digits and single hyphens, and "
                            "must start and end with a letter or digit")
        elif slug in RESERVED_SLUGS:
            self.add(field, f"`{slug}` is reserved")
        return slug

    def tags(self, field: str, values: Iterable[str], *, max_tags: int = MAX_TAGS,
             max_length: int = TAG_MAX) -> list[str]:
        """Tags: each the name rules (empty ones dropped), lower case, at most `max_length`;
        repeats dropped, at most `max_tags`."""
        cleaned: list[str] = []
        for value in values:
            if hides_characters(value):
                self.add(field, INVISIBLE)
                continue
            tag = " ".join(value.split()).lower()
            if len(tag) > max_length:
                self.add(field, f"each tag must be at most {max_length} characters")
            elif tag and tag not in cleaned:
                cleaned.append(tag)
        if len(cleaned) > max_tags:
            self.add(field, f"at most {max_tags} tags")
        return cleaned

    def hostname(self, field: str, value: str, *, refused: Iterable[str] = (),
                 max_length: int = HOSTNAME_MAX) -> str:
        """A public hostname of at least two labels, returned in lower case as IDNA A-labels
        without a trailing dot (`Bücher.Example.com.` is `xn--bcher-kva.example.com`). No IP
        address, port, scheme or path, no special-use name (`SPECIAL_USE_SUFFIXES`), at most
        `max_length` characters (by default 253, DNS's own bound) and 63 a label; and neither
        one of the `refused` hosts nor a name under or above one (a tenant cannot claim our
        own hosts, nor their parent domain)."""
        text = value.strip()
        if hides_characters(text) or any(char.isspace() for char in text):
            self.add(field, "must not contain spaces, control or invisible characters")
            return text
        if "://" in text or "/" in text or "@" in text:
            self.add(field, "must be a hostname alone, without a scheme, path or user (e.g. "
                            "`forms.example.com`)")
            return text
        text = text.rstrip(".") if text.endswith(".") and not text.endswith("..") else text
        if not text:
            self.add(field, EMPTY)
            return text
        if len(text) > HOSTNAME_MAX * 2:  # before IDNA's work: no need to read a novel
            self.add(field, too_long(HOSTNAME_MAX))
            return text
        if _is_ip(text):
            self.add(field, "must be a hostname, not an IP address")
            return text
        if ":" in text:
            self.add(field, "must be a hostname without a port")
            return text
        try:
            name = idna.encode(text, uts46=True).decode("ascii").lower()
        except (idna.IDNAError, UnicodeError):
            self.add(field, "is not a valid hostname (letters, digits and hyphens in labels of "
                            "1 to 63 characters, separated by dots)")
            return text.lower()
        labels = name.split(".")
        if len(name) > max_length:
            self.add(field, too_long(max_length))
        elif any(not label or len(label) > LABEL_MAX or not HOSTNAME_LABEL.match(label)
                 for label in labels):
            self.add(field, "is not a valid hostname (letters, digits and hyphens in labels of "
                            "1 to 63 characters, separated by dots)")
        elif len(labels) < 2:
            self.add(field, "must be a full domain name such as `forms.example.com`")
        elif labels[-1].isdigit() or _is_ip(name):
            self.add(field, "must be a hostname, not an IP address")
        elif labels[-1] in SPECIAL_USE_SUFFIXES:
            self.add(field, f"`.{labels[-1]}` names are not public: use a domain on the "
                            "internet")
        else:
            for own in refused:
                own = own.lower().rstrip(".")
                if own and (name == own or name.endswith(f".{own}") or
                            own.endswith(f".{name}")):
                    self.add(field, "is one of our own hosts (or under or above one)")
                    break
        return name

    def one_of(self, field: str, value: T, allowed: Collection[T]) -> T:
        """`value` when it is one of `allowed` (listed, sorted, in the problem otherwise)."""
        self.require(field, value in allowed,
                     f"must be one of {', '.join(sorted(map(str, allowed)))}")
        return value

    def not_null(self, field: str, value: T | None) -> T | None:
        """For a partial update: a field given as null that cannot be null."""
        self.require(field, value is not None, NOT_NULL)
        return value


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return False
    return True


@contextmanager
def validate() -> Iterator[Checks]:
    """Check one input: the block's checks run, then one BAD_USER_INPUT names every bad field.

    A BadUserInput raised inside the block (by a check that raises) is merged with the problems
    found before it."""
    checks = Checks()
    try:
        yield checks
    except BadUserInput as exc:
        if not checks.problems:
            raise
        checks.call(_reraise, exc)
    checks.raise_problems()


def _reraise(exc: BaseException) -> None:
    raise exc
