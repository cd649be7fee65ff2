"""Field encryption and blind indexes, for the models (docs/encryption.md "Formats").

A column declared `EncryptedTextField()` holds `enc:v1:<key version>:<base64(nonce | AES-GCM
ciphertext and tag)>`; the associated data is `<org id>|<table>|<column>|<row id>`, so a value
copied to another row, column or org does not decrypt. A model with such columns derives from
`Encrypted` (before its Tortoise base): `save`/`create`/`bulk_create` load the org's keys first
(async), then Tortoise's synchronous `to_db_value` encrypts under the ACTIVE key; every select
through our engines (`database.rows.FastSelectExecutor`) ends in `after_load`, which loads the
rows' orgs' keys and decrypts in place. Resolvers and the engine see plain values only.

- A value without the `enc:` prefix is plain text written before encryption came (or during
  the migration job): it is read as it is, and encrypted the next time the row is saved.
- A value whose key is DESTROYED (crypto-shredding), or that fails to authenticate, becomes
  None and the row's `unreadable_fields` names the column: the API says so (`Lead.
  personalDataUnreadable`), nothing crashes.
- `BlindIndexField(source, kind)` holds the HMAC-SHA256 of the normalised `source` value under
  the org's index key: exact lookups (`blind_index(org, "email", value)`) without decrypting.
  Filtering on an encrypted column itself is refused (TypeError): it could never match.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import uuid
from collections.abc import Iterable
from typing import Any, Self, TypeGuard, cast

from cryptography.exceptions import InvalidTag
from tortoise import fields
from tortoise.models import Model

from keystore import keys

PREFIX = "enc:v1:"


def is_encrypted(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and value.startswith(PREFIX)


def _aad(org_id: uuid.UUID, table: str, column: str, row_id: Any) -> bytes:
    return f"{org_id}|{table}|{column}|{row_id}".encode()


def encrypt(org_id: uuid.UUID, table: str, column: str, row_id: Any, value: str) -> str:
    """`value` encrypted under the org's ACTIVE key (loaded before: `keys.ensure_active`)."""
    org_keys = keys.cached(org_id)
    if org_keys is None or org_keys.active is None:
        raise keys.KeyUnavailable(f"no active data key loaded for organization {org_id}: "
                                  "save through the model (it loads the keys first)")
    nonce = os.urandom(12)
    sealed = org_keys.ciphers[org_keys.active].encrypt(
        nonce, value.encode(), _aad(org_id, table, column, row_id))
    return f"{PREFIX}{org_keys.active}:{base64.b64encode(nonce + sealed).decode()}"


def key_owner(row: Any) -> uuid.UUID:
    """Whose keys encrypt `row`: the value of its model's `key_owner_field`."""
    return cast(uuid.UUID, getattr(row, getattr(row, "key_owner_field", "organization_id")))


BYTES_MAGIC = b"RLKE1"


def encrypt_bytes(owner: uuid.UUID, aad: str, data: bytes) -> bytes:
    """`data` (a stored file) encrypted under the owner's ACTIVE key (loaded before:
    `keys.ensure_active`): `RLKE1 | version (4 bytes, big-endian) | nonce | ciphertext+tag`,
    bound to `aad` (say, `<table>|<row id>`)."""
    owner_keys = keys.cached(owner)
    if owner_keys is None or owner_keys.active is None:
        raise keys.KeyUnavailable(f"no active data key loaded for {owner}")
    nonce = os.urandom(12)
    sealed = owner_keys.ciphers[owner_keys.active].encrypt(nonce, data, f"{owner}|{aad}".encode())
    return BYTES_MAGIC + owner_keys.active.to_bytes(4, "big") + nonce + sealed


def decrypt_bytes(owner: uuid.UUID, aad: str, stored: bytes) -> bytes:
    """The plain bytes of `encrypt_bytes`'s output (the owner's keys loaded before:
    `keys.load`); Unreadable when the key is destroyed or the bytes were altered or moved."""
    if not stored.startswith(BYTES_MAGIC) or len(stored) < len(BYTES_MAGIC) + 4 + 12 + 16:
        raise Unreadable("not an encrypted file")
    head = len(BYTES_MAGIC)
    version = int.from_bytes(stored[head:head + 4], "big")
    owner_keys = keys.cached(owner)
    cipher = owner_keys.ciphers.get(version) if owner_keys is not None else None
    if cipher is None:
        raise Unreadable(f"key v{version} of {owner} is not available")
    try:
        return cipher.decrypt(stored[head + 4:head + 16], stored[head + 16:],
                              f"{owner}|{aad}".encode())
    except InvalidTag as exc:
        raise Unreadable("an encrypted file does not decrypt") from exc


class Unreadable(Exception):
    """The value's key is destroyed (or missing), or the value was altered or moved."""


def decrypt(org_id: uuid.UUID, table: str, column: str, row_id: Any, stored: str) -> str:
    """The plain text of `stored` (as it is when it has no prefix); Unreadable otherwise."""
    if not stored.startswith(PREFIX):
        return stored
    return decrypt_with(keys.cached(org_id), f"{org_id}|{table}|{column}|", row_id, stored)


def decrypt_with(org_keys: keys.OrgKeys | None, aad_prefix: str, row_id: Any,
                 stored: str) -> str:
    """`decrypt` of an encrypted `stored`, for a caller that decrypts many values of one org
    and column (a compiled plan's page): it finds the org's keys and the associated data's
    `<org id>|<table>|<column>|` once, not per value (that and `base64.b64decode`'s checks
    were half the cost of a decryption: AES-GCM itself is about 0.4 us of 2.2)."""
    version_text, _, payload = stored[len(PREFIX):].partition(":")
    try:
        version = int(version_text)
        cipher = org_keys.ciphers.get(version) if org_keys is not None else None
        if cipher is None:
            raise Unreadable(f"key v{version} of {aad_prefix.partition('|')[0]} is not "
                             "available")
        data = binascii.a2b_base64(payload)  # what b64decode does for a str, checks aside
        return cipher.decrypt(data[:12], data[12:], f"{aad_prefix}{row_id}".encode()).decode()
    except (ValueError, InvalidTag) as exc:  # binascii.Error and UnicodeError are ValueErrors
        table_column = ".".join(aad_prefix.split("|")[1:3])
        raise Unreadable(f"a {table_column} value of organization "
                         f"{aad_prefix.partition('|')[0]} does not decrypt") from exc


class EncryptedTextField(fields.TextField):
    """A text column stored encrypted (see the module's docstring)."""

    def to_db_value(self, value: Any, instance: type[Model] | Model) -> Any:
        if value is None:
            return None
        if not hasattr(instance, "_saved_in_db"):  # a filter or a queryset update
            raise TypeError(f"{self.model_field_name} is encrypted: it cannot be filtered or "
                            "updated in bulk (find rows by its blind index, save instances)")
        row = cast(Any, instance)
        return encrypt(key_owner(row), row._meta.db_table,
                       self.source_field or self.model_field_name, row.pk, str(value))


class EncryptedJSONField(fields.JSONField[Any]):
    """A JSON column stored encrypted: the JSON text of the value, encrypted like an
    `EncryptedTextField`'s, kept as a JSON string (valid in a `jsonb` column). An empty value
    (`{}`, `[]`) holds nothing personal and stays plain, so a queryset `.update()` may clear
    the column; a row from before encryption holds its JSON as it was and is read as it is."""

    def to_db_value(self, value: Any, instance: type[Model] | Model) -> Any:
        if not value:
            return super().to_db_value(value, instance)
        if not hasattr(instance, "_saved_in_db"):
            raise TypeError(f"{self.model_field_name} is encrypted: it cannot be filtered or "
                            "updated in bulk with a value (save instances)")
        row = cast(Any, instance)
        return json.dumps(encrypt(key_owner(row), row._meta.db_table,
                                  self.source_field or self.model_field_name, row.pk,
                                  json.dumps(value)))


def _from_plain(field: Any, text: str) -> Any:
    """The model value of a decrypted `text` of `field`."""
    return json.loads(text) if isinstance(field, EncryptedJSONField) else text


def _unreadable_value(field: Any) -> Any:
    if field.null:
        return None
    return field.default() if callable(field.default) else ""


class BlindIndexField(fields.CharField):
    """The blind index of the model's `source` attribute (normalised by `normalise`); it is
    computed on every save from the plain value, whatever the attribute holds."""

    def __init__(self, source: str, kind: str, **kwargs: Any) -> None:
        kwargs.setdefault("null", True)
        super().__init__(max_length=64, **kwargs)
        self.source, self.kind = source, kind

    def to_db_value(self, value: Any, instance: type[Model] | Model) -> Any:
        if not hasattr(instance, "_saved_in_db"):
            return value  # a filter: the caller computed it (`blind_index`)
        plain = getattr(instance, self.source)
        if plain is None or not str(plain).strip():
            return None
        org_keys = keys.cached(key_owner(instance))
        if org_keys is None:
            raise keys.KeyUnavailable("the org's keys are not loaded: save through the model")
        return org_keys.index(self.kind, normalise(self.kind, str(plain)))


def normalise(kind: str, value: str) -> str:
    """What a blind index hashes: emails lower-cased (they are stored normalised by
    email-validator already), phones as stored (E.164); surrounding blanks dropped."""
    value = value.strip()
    return value.lower() if kind == "email" else value


async def blind_index(org_id: uuid.UUID, kind: str, value: str) -> str | None:
    """The blind index of `value` ("email" or "phone") in the org: what to filter
    `email_bidx`/`phone_bidx` by. None when the org has no key yet (so no row has an index to
    match) or its keys are destroyed. Creates no key: a read never writes."""
    await keys.load((org_id,))
    org_keys = keys.cached(org_id)
    if org_keys is None or org_keys.index_key is None:
        return None
    return org_keys.index(kind, normalise(kind, value))


class Encrypted:
    """Mix into a model (before `TenantModel`) whose columns include `EncryptedTextField`s."""

    unreadable_fields: frozenset[str] = frozenset()
    """Columns of this row whose value could not be decrypted (its org's key destroyed)."""

    key_owner_field: str = "organization_id"
    """The column naming whose keys encrypt the row: its organization, or for rows that
    belong to a person rather than an org (support tickets) that person's user id: the keystore
    keeps keys by an owner's UUID and never asks which kind it is."""

    @classmethod
    def encrypted_columns(cls) -> tuple[tuple[str, str], ...]:
        """(attribute, column) of each encrypted field."""
        found = cls.__dict__.get("_encrypted_columns")
        if found is None:
            meta = cast(Any, cls)._meta
            found = tuple((name, field.source_field or name)
                          for name, field in meta.fields_map.items()
                          if isinstance(field, (EncryptedTextField, EncryptedJSONField)))
            type.__setattr__(cls, "_encrypted_columns", found)
        return found

    @classmethod
    async def after_load(cls, instances: list[Self]) -> None:
        """Decrypt `instances` in place (`database.rows.FastSelectExecutor` calls it)."""
        columns = cls.encrypted_columns()
        if not instances or not columns:
            return
        owner = cls.key_owner_field
        orgs = {row.__dict__[owner] for row in instances
                if any(is_encrypted(row.__dict__.get(name)) for name, _ in columns)}
        if not orgs:
            return
        await keys.load(orgs)
        table = cast(Any, cls)._meta.db_table
        fields_map = cast(Any, cls)._meta.fields_map
        retried = False
        for row in instances:
            unreadable: set[str] = set()
            values = row.__dict__
            for name, column in columns:
                stored = values.get(name)
                if not is_encrypted(stored):
                    continue
                org = values[owner]
                try:
                    values[name] = _from_plain(fields_map[name],
                                               decrypt(org, table, column, values["id"], stored))
                except Unreadable:
                    org_keys = keys.cached(org)
                    if not retried and org_keys is not None and not org_keys.destroyed:
                        retried = True  # a key newer than the cache (rotated elsewhere)
                        keys.forget(org)
                        await keys.load((org,))
                        try:
                            values[name] = _from_plain(
                                fields_map[name],
                                decrypt(org, table, column, values["id"], stored))
                            continue
                        except Unreadable:
                            pass
                    values[name] = _unreadable_value(fields_map[name])
                    unreadable.add(name)
            if unreadable:
                values["unreadable_fields"] = frozenset(unreadable)

    async def save(self, *args: Any, **kwargs: Any) -> None:
        """Tortoise's save, with the org's keys loaded first; saving only some fields saves
        the blind indexes of those among them too."""
        await keys.ensure_active(key_owner(self))
        named = kwargs.get("update_fields")
        if named:
            named = list(named)
            fields_map = cast(Any, self)._meta.fields_map
            named += [name for name, field in fields_map.items()
                      if isinstance(field, BlindIndexField) and field.source in named]
            kwargs["update_fields"] = named
        await cast(Any, super()).save(*args, **kwargs)


async def prepare(org_ids: Iterable[uuid.UUID]) -> None:
    """Load (or create) the ACTIVE keys of `org_ids` before a `bulk_create` of encrypted rows
    (`save` and `create` do it themselves)."""
    for org in set(org_ids):
        await keys.ensure_active(org)
