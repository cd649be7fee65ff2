"""Sealed cursors: a keyset position the client carries but can neither read nor forge.

A keyset cursor must hold the sort value of the last row seen (a lead's name, a time) and its
id, so the next page can start strictly after them without a query to look them up, and still
start in the right place after that row is deleted. Those are personal data (a name) and
internal ids. The position is therefore sealed with a deterministic AEAD, AES-SIV (RFC 5297):

- the client sees opaque bytes (urlsafe base64 without padding) and learns nothing from them,
  not even whether two lists hold the same row (the list is part of the associated data);
- a cursor altered, forged, or taken from another list or order fails to open: BAD_USER_INPUT;
- the same position always seals to the same cursor (no nonce), which keeps cursors short
  (16 bytes of tag and synthetic IV) and lets clients compare them;
- sealing costs about 1 µs per cursor with one cipher object per process (`Services.cursors`).

`v = 1` is the first byte, so the format can change later without misreading old cursors.
The key is derived from `SECRET_KEY` with HKDF (its own `info`, like the JWT key): rotating
the secret invalidates outstanding cursors, which clients then get as BAD_USER_INPUT.
"""

from __future__ import annotations

import base64
import binascii

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = b"\x01"
MAX_CURSOR_LENGTH = 2048
"""Longer than any cursor we make (a 200-character name is at most ~1,100 characters)."""


class CursorSeal:
    """Seals and opens cursor contents bound to a scope (which list, in which order).

    >>> seal = CursorSeal("a secret of at least thirty-two characters")
    >>> cursor = seal.seal(b"position", b"leads:org:name:asc")
    >>> seal.open(cursor, b"leads:org:name:asc")
    b'position'
    """

    def __init__(self, secret: str) -> None:
        key = HKDF(algorithm=SHA256(), length=64, salt=None,
                   info=b"relleks:cursor:v1").derive(secret.encode())
        self._aead = AESSIV(key)

    def seal(self, plaintext: bytes, scope: bytes) -> str:
        sealed = self._aead.encrypt(plaintext, [VERSION, scope])
        return base64.urlsafe_b64encode(VERSION + sealed).rstrip(b"=").decode("ascii")

    def open(self, cursor: str, scope: bytes) -> bytes:
        """The plaintext sealed for `scope`; ValueError for anything else."""
        if len(cursor) > MAX_CURSOR_LENGTH:
            raise ValueError("too long for a cursor")
        try:
            raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_",
                                   validate=True)
        except (binascii.Error, UnicodeEncodeError) as exc:
            raise ValueError("not base64") from exc
        if raw[:1] != VERSION or len(raw) <= 17:
            raise ValueError("not a cursor of this version")
        try:
            return self._aead.decrypt(raw[1:], [VERSION, scope])
        except InvalidTag as exc:
            raise ValueError("altered, or sealed for another list") from exc
