"""Webhook secrets and signatures (the Standard Webhooks spec).

A secret is `whsec_` + base64 of 32 random bytes; it is shown once (create, rotate) and stored
sealed with AES-GCM under a key derived from SECRET_KEY (HKDF, its own `info`), so a database
dump alone does not let anyone sign as us.

    secret = new_secret()
    sealed = WebhookSecrets(settings.secret_key).seal(secret)
    headers = sign_headers([secret], message_id, timestamp, body)

`webhook-signature` holds `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` per secret,
space-separated (during a rotation both the new and the previous secret sign).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets as random

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PREFIX = "whsec_"
SECRET_BYTES = 32


def new_secret() -> str:
    return PREFIX + base64.b64encode(random.token_bytes(SECRET_BYTES)).decode()


def _key_bytes(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(PREFIX))


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """One `v1,<base64>` signature of a delivery."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key_bytes(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def sign_headers(secrets: list[str], message_id: str, timestamp: int,
                 body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers of one attempt, signed with every secret given."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(secret, message_id, timestamp, body)
                                      for secret in secrets),
    }


class WebhookSecrets:
    """Seals and opens endpoint secrets with a key derived from SECRET_KEY.

    >>> box = WebhookSecrets("a secret of at least thirty-two characters")
    >>> box.open(box.seal("whsec_abc"))
    'whsec_abc'
    """

    def __init__(self, secret_key: str) -> None:
        key = HKDF(algorithm=SHA256(), length=32, salt=None,
                   info=b"relleks webhook secrets v1").derive(secret_key.encode())
        self._aead = AESGCM(key)

    def seal(self, secret: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, secret.encode(), b"whsec")
        return base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, sealed: str) -> str:
        raw = base64.urlsafe_b64decode(sealed.encode())
        return self._aead.decrypt(raw[:12], raw[12:], b"whsec").decode()
