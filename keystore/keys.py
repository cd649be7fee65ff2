"""An organization's data keys: created, loaded into a short-lived cache, rotated, destroyed.

Every org has one ACTIVE key (created with its first encrypted write), any number of RETIRED
ones (decrypt only) and, once shredded, only DESTROYED ones. `load(org_ids)` reads the keys of
the orgs not cached (or cached longer than KEY_CACHE_SECONDS ago) in ONE statement on the
keystore connection and unwraps them with the KEK; `cached(org_id)` is what the synchronous
encrypt/decrypt of `keystore.fields` reads. Unwrapped keys live only in this module's cache,
never in a log line or a `repr`.

The KEK is handed in by the composition root (`use(kek, ttl)` from `server.py` and
`jobs/worker.py`); a process that never calls it uses the configured one (`kek_from_settings`).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from core.settings import Settings
from keystore.kek import KeyEncryptionKey, kek_from_settings
from keystore.models import DataKey, KeyState


class KeyUnavailable(RuntimeError):
    """An org's keys were needed but not loaded (a bug: the caller skipped `load`)."""


@dataclass(eq=False, repr=False)
class OrgKeys:
    """One org's unwrapped keys, as cached. Its repr names versions, never key bytes."""

    loaded_at: float
    active: int | None = None
    ciphers: dict[int, AESGCM] = field(default_factory=dict)
    destroyed: frozenset[int] = frozenset()
    index_key: bytes | None = None
    """The blind-index HMAC key: HKDF of the org's first key (version 1), which is retired by
    a rotation but never destroyed before the org is, so indexes outlive rotations."""

    def __repr__(self) -> str:
        return f"<OrgKeys active=v{self.active} versions={sorted(self.ciphers)}>"

    def index(self, kind: str, value: str) -> str:
        """The blind index of a normalised value of `kind` ("email", "phone")."""
        if self.index_key is None:
            raise KeyUnavailable("this organization's keys are destroyed")
        return hmac.new(self.index_key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


@dataclass
class _State:
    kek: KeyEncryptionKey | None = None
    ttl: float = 60.0
    cache: dict[uuid.UUID, OrgKeys] = field(default_factory=dict)


_state = _State()
_creating = asyncio.Lock()


def use(kek: KeyEncryptionKey, *, ttl: float) -> None:
    """Configure the process's KEK and cache lifetime (the composition root calls it)."""
    _state.kek, _state.ttl = kek, ttl
    _state.cache.clear()


def _kek() -> KeyEncryptionKey:
    if _state.kek is None:
        settings = Settings.from_env()
        _state.kek, _state.ttl = kek_from_settings(settings), settings.key_cache_seconds
    return _state.kek


def forget(org_id: uuid.UUID | None = None) -> None:
    """Drop an org's cached keys (all orgs' with None): the next `load` reads them again."""
    if org_id is None:
        _state.cache.clear()
    else:
        _state.cache.pop(org_id, None)


def cached(org_id: uuid.UUID) -> OrgKeys | None:
    """The org's keys as loaded (maybe older than the TTL: `load` refreshes), or None."""
    return _state.cache.get(org_id)


def _index_key(first: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=b"relleks blind index v1").derive(first)


def _org_keys(rows: list[DataKey], now: float) -> OrgKeys:
    kek = _kek()
    keys = OrgKeys(loaded_at=now)
    destroyed = set()
    for row in rows:
        if row.state is KeyState.DESTROYED or row.wrapped is None:
            destroyed.add(row.version)
            continue
        raw = kek.unwrap(bytes(row.wrapped))
        keys.ciphers[row.version] = AESGCM(raw)
        if row.version == 1:
            keys.index_key = _index_key(raw)
        if row.state is KeyState.ACTIVE:
            keys.active = row.version
    keys.destroyed = frozenset(destroyed)
    return keys


async def load(org_ids: Iterable[uuid.UUID]) -> None:
    """Make sure the keys of `org_ids` are cached and fresh: one statement for those that are
    not (none at all when every one is)."""
    now = time.monotonic()
    stale = {org for org in org_ids
             if (keys := _state.cache.get(org)) is None or now - keys.loaded_at > _state.ttl}
    if not stale:
        return
    rows = await DataKey.filter(organization_id__in=list(stale)).order_by("version")
    by_org: dict[uuid.UUID, list[DataKey]] = {org: [] for org in stale}
    for row in rows:
        by_org[row.organization_id].append(row)
    for org, org_rows in by_org.items():
        _state.cache[org] = _org_keys(org_rows, now)


async def ensure_active(org_id: uuid.UUID) -> OrgKeys:
    """The org's keys, with an ACTIVE one: created (version 1, or the next one after
    retired keys) when it has none. Refused (KeyUnavailable) once its keys are destroyed."""
    await load((org_id,))
    keys = _state.cache[org_id]
    if keys.active is not None:
        return keys
    if keys.destroyed:
        raise KeyUnavailable("this organization's keys are destroyed: nothing more is encrypted")
    async with _creating:
        forget(org_id)
        await load((org_id,))
        keys = _state.cache[org_id]
        if keys.active is None:
            version = max(keys.ciphers, default=0) + 1
            try:
                await DataKey.create(organization_id=org_id, version=version,
                                     state=KeyState.ACTIVE, wrapped=_kek().wrap(os.urandom(32)),
                                     kek_id=_kek().key_id)
            except IntegrityError:
                pass  # another process created it: read theirs
            forget(org_id)
            await load((org_id,))
            keys = _state.cache[org_id]
    if keys.active is None:
        raise KeyUnavailable("no active data key could be created")
    return keys


async def rotate(org_id: uuid.UUID) -> int:
    """A new ACTIVE key for the org, the one before RETIRED; returns the new version. What
    the retired keys encrypted is re-encrypted by `jobs.encryption` in the background."""
    await ensure_active(org_id)
    now = datetime.now(UTC)
    async with in_transaction("keystore"):
        rows = await DataKey.filter(organization_id=org_id).select_for_update() \
            .order_by("version")
        version = max(row.version for row in rows) + 1
        await DataKey.filter(organization_id=org_id, state=KeyState.ACTIVE) \
            .update(state=KeyState.RETIRED, retired_at=now)
        await DataKey.create(organization_id=org_id, version=version, state=KeyState.ACTIVE,
                             wrapped=_kek().wrap(os.urandom(32)), kek_id=_kek().key_id)
    forget(org_id)
    return version


async def destroy(org_id: uuid.UUID) -> int:
    """Crypto-shredding: every key of the org DESTROYED, its wrapped bytes wiped. Whatever the
    org's keys encrypted, in this database or any copy of it, is unreadable from then on.
    Returns how many keys were destroyed. Other processes stop decrypting within the cache's
    lifetime (KEY_CACHE_SECONDS)."""
    count = await DataKey.filter(organization_id=org_id).exclude(state=KeyState.DESTROYED) \
        .update(state=KeyState.DESTROYED, wrapped=None, destroyed_at=datetime.now(UTC))
    forget(org_id)
    return int(count)


async def rewrap(new: KeyEncryptionKey, old: KeyEncryptionKey | None = None,
                 batch: int = 500) -> int:
    """Every data key not yet wrapped by `new` unwrapped (with `old`, or the configured KEK) and
    wrapped again by `new`. Resumable: keys already under `new` are skipped. Returns how many
    were rewrapped."""
    old = old or _kek()
    done = 0
    while True:
        rows = await DataKey.filter(wrapped__isnull=False).exclude(kek_id=new.key_id) \
            .order_by("id").limit(batch)
        if not rows:
            return done
        for row in rows:
            assert row.wrapped is not None
            raw = old.unwrap(bytes(row.wrapped))
            await DataKey.filter(id=row.id, kek_id=row.kek_id).update(
                wrapped=new.wrap(raw), kek_id=new.key_id)
            done += 1
