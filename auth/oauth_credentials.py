"""The secrets of OAuth: recognisable, self-checking where a person may paste them, hashed at rest.

    rlk_oat_...  an access token (1 hour)        rlk_ort_...  a refresh token (used once)
    rlk_ocs_...  a client secret (shown once)    rlkapp_...   a client id (public)

Tokens and client secrets share the API tokens' scheme (`auth/api_tokens.py`): a fixed prefix
for secret scanners, 30 random base62 characters and a CRC32 checksum, so a mistyped token is
refused before any lookup. Only SHA-256 hashes are stored. Authorization codes are plain random
strings: they live for minutes and only machines handle them.
"""

from __future__ import annotations

import hashlib
import re
import secrets

from auth.api_tokens import ALPHABET, BODY_LENGTH, CHECKSUM_LENGTH, checksum

ACCESS_PREFIX = "rlk_oat_"
REFRESH_PREFIX = "rlk_ort_"
CLIENT_SECRET_PREFIX = "rlk_ocs_"
CLIENT_ID_PREFIX = "rlkapp_"
SHOWN_PREFIX_LENGTH = len(CLIENT_SECRET_PREFIX) + 6


def new_secret(prefix: str) -> str:
    """The prefix, 30 random base62 characters (178 bits) and their checksum."""
    body = "".join(secrets.choice(ALPHABET) for _ in range(BODY_LENGTH))
    return f"{prefix}{body}{checksum(body)}"


def is_well_formed(secret: str, prefix: str) -> bool:
    """Shape and checksum: False for a mistyped, truncated or invented secret, with no lookup."""
    if not re.fullmatch(rf"{prefix}[0-9A-Za-z]{{{BODY_LENGTH + CHECKSUM_LENGTH}}}", secret):
        return False
    body = secret[len(prefix):len(prefix) + BODY_LENGTH]
    return secrets.compare_digest(checksum(body), secret[-CHECKSUM_LENGTH:])


def new_client_id() -> str:
    return CLIENT_ID_PREFIX + "".join(secrets.choice(ALPHABET) for _ in range(24))


def new_code() -> str:
    return secrets.token_urlsafe(32)


def digest(value: str) -> str:
    """The SHA-256 hash stored for a secret, code or token."""
    return hashlib.sha256(value.encode()).hexdigest()


def looks_like_access_token(value: str) -> bool:
    return value.startswith(ACCESS_PREFIX)
