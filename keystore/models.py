"""An organization's data keys, each stored wrapped by the key-encryption key."""

from __future__ import annotations

import uuid
from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class KeyState(StrEnum):
    """Where a data key stands (Salesforce Shield's tenant secret states, renamed)."""

    ACTIVE = "active"
    """Encrypts new values and decrypts: one per organization."""
    RETIRED = "retired"
    """Decrypts only: values under it are re-encrypted under the ACTIVE key in the background."""
    DESTROYED = "destroyed"
    """Its wrapped bytes are wiped: what it encrypted is unreadable forever, in every copy."""


class DataKey(Model):
    """One version of an organization's data key (256 bits, AES-GCM), wrapped by a KEK.

    Not an org-owned row of the data (`models.tenancy`): it lives in the keystore database,
    which holds no personal data, and is read by organization id only."""

    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    organization_id = fields.UUIDField()
    version = fields.IntField()
    state = fields.CharEnumField(KeyState, max_length=16, default=KeyState.ACTIVE)
    wrapped = fields.BinaryField(null=True)
    """The key wrapped by the KEK named `kek_id`; null once DESTROYED."""
    kek_id = fields.CharField(max_length=100)
    created_at = fields.DatetimeField(auto_now_add=True)
    retired_at = fields.DatetimeField(null=True)
    destroyed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "data_keys"
        app = "keystore"
        unique_together = (("organization_id", "version"),)

    def __repr__(self) -> str:  # never the key material, wrapped or not
        return f"<DataKey org={self.organization_id} v{self.version} {self.state.value}>"

    __str__ = __repr__
