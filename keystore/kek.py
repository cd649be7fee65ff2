"""The key-encryption key (KEK): it wraps every data key in the keystore.

`KeyEncryptionKey` is all the keystore needs: `wrap`, `unwrap` and a `key_id` stored beside
each wrapped key (so `python -m scripts.rewrap_keys` knows which keys a new KEK has not wrapped
yet). `LocalKek` is a 256-bit key from configuration (KEK_FILE or KEK_BASE64) wrapping with
AES-256-GCM. A KMS plugs in here: a class with the same three members whose `wrap`/`unwrap`
call the KMS's Encrypt/Decrypt (AWS KMS, Google Cloud KMS, Vault transit), returned by
`kek_from_settings`; nothing else changes (docs/encryption.md "Key hierarchy").
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from typing import Protocol

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core.settings import DEV_KEK_BASE64, ConfigurationError, Settings

_NONCE = 12
_AAD = b"relleks data key"


class KeyEncryptionKey(Protocol):
    """What wraps and unwraps data keys."""

    @property
    def key_id(self) -> str:
        """Names this KEK (not secret): stored with every key it wraps."""
        ...

    def wrap(self, key: bytes) -> bytes:
        """`key` encrypted (and authenticated) under this KEK."""
        ...

    def unwrap(self, wrapped: bytes) -> bytes:
        """The key `wrap` gave `wrapped` for; ValueError if this KEK did not wrap it."""
        ...


class LocalKek:
    """A KEK held in this process's memory, from a file or the environment."""

    __slots__ = ("_aead", "key_id")

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ConfigurationError("The key-encryption key must be 32 bytes (base64 of 32 "
                                     "random bytes, e.g. `openssl rand -base64 32`)")
        self._aead = AESGCM(key)
        self.key_id = "local:" + hashlib.sha256(b"relleks kek id" + key).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"LocalKek({self.key_id})"

    @classmethod
    def from_base64(cls, text: str) -> LocalKek:
        try:
            return cls(base64.b64decode(text.strip(), validate=True))
        except binascii.Error as exc:
            raise ConfigurationError("The key-encryption key is not valid base64") from exc

    def wrap(self, key: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + self._aead.encrypt(nonce, key, _AAD)

    def unwrap(self, wrapped: bytes) -> bytes:
        try:
            return self._aead.decrypt(wrapped[:_NONCE], wrapped[_NONCE:], _AAD)
        except Exception as exc:  # InvalidTag: another KEK wrapped it, or it was altered
            raise ValueError(f"{self.key_id} did not wrap this data key") from exc


def kek_from_settings(settings: Settings) -> KeyEncryptionKey:
    """The configured KEK: KEK_FILE, KEK_BASE64, or the development key (refused in
    production by `Settings.check`). A KMS-backed KEK would be chosen here."""
    if settings.kek_file is not None:
        return LocalKek.from_base64(settings.kek_file.read_text())
    return LocalKek.from_base64(settings.kek_base64 or DEV_KEK_BASE64)
