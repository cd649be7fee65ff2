"""The format of organization API token secrets: recognisable, self-checking, stored as a hash.

    rlk_pat_ 4Rf0XbWq9mZk3T1yLp8cVh2JdNs7Ge 0mB3kA
    ^prefix  ^30 random base62 characters   ^CRC32 of the random part, 6 base62 characters

The fixed prefix lets secret scanners (and people) recognise a leaked Relleks token; the checksum
lets the API refuse a mistyped or truncated token before it looks anything up in the database, the
same scheme GitHub uses for its tokens. Only the SHA-256 hash of the whole secret is stored; the
secret itself is shown once, when the token is created.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import zlib

PREFIX = "rlk_pat_"
BODY_LENGTH = 30
CHECKSUM_LENGTH = 6
SHOWN_PREFIX_LENGTH = len(PREFIX) + 6
"""How much of a secret the token list shows (`rlk_pat_4Rf0Xb`), enough to tell tokens apart."""

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
SHAPE = re.compile(rf"^{PREFIX}[0-9A-Za-z]{{{BODY_LENGTH + CHECKSUM_LENGTH}}}$")


def _base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, digit = divmod(number, 62)
        digits.append(ALPHABET[digit])
    return "".join(reversed(digits))


def checksum(body: str) -> str:
    """CRC32 of the random part, as 6 base62 characters (62**6 > 2**32, so nothing is lost)."""
    return _base62(zlib.crc32(body.encode()), CHECKSUM_LENGTH)


def new_api_token() -> str:
    """A fresh secret: the prefix, 30 random base62 characters (178 bits) and their checksum."""
    body = "".join(secrets.choice(ALPHABET) for _ in range(BODY_LENGTH))
    return f"{PREFIX}{body}{checksum(body)}"


def looks_like_api_token(value: str) -> bool:
    """Whether `value` claims to be an API token (its prefix), well-formed or not."""
    return value.startswith(PREFIX)


def is_well_formed(secret: str) -> bool:
    """Shape and checksum: False for a mistyped, truncated or invented token, with no lookup."""
    if not SHAPE.match(secret):
        return False
    body = secret[len(PREFIX):len(PREFIX) + BODY_LENGTH]
    return secrets.compare_digest(checksum(body), secret[-CHECKSUM_LENGTH:])


def shown_prefix(secret: str) -> str:
    return secret[:SHOWN_PREFIX_LENGTH]


def hash_api_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
