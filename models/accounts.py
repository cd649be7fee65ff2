"""Accounts: people who sign in, their sessions, the single-use tokens mailed to them and the
sign-ups waiting for their address to be confirmed."""

from __future__ import annotations

import uuid
from enum import StrEnum

from tortoise import fields

from models.base import BaseModel


class User(BaseModel):
    """A person with a Relleks login. The email is stored lower-cased, so it is unique
    case-insensitively on every database without a functional index."""

    email = fields.CharField(max_length=320, unique=True)
    email_verified = fields.BooleanField(default=False)
    name = fields.CharField(max_length=200)
    # Null for an account made through social sign-in: it has no password until the person
    # sets one with a password reset.
    password_hash = fields.CharField(max_length=255, null=True)
    avatar_key = fields.CharField(max_length=255, null=True)
    age_check_passed_at = fields.DatetimeField()
    terms_version = fields.CharField(max_length=32)
    terms_accepted_at = fields.DatetimeField()
    updated_at = fields.DatetimeField(auto_now=True)

    sessions: fields.ReverseRelation[Session]

    class Meta:
        table = "users"


class Session(BaseModel):
    """One signed-in device. Access tokens name it (`sid`), so ending it ends them too."""

    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "relleks.User", related_name="sessions", on_delete=fields.CASCADE
    )
    last_used_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    revoked_at = fields.DatetimeField(null=True)
    ip = fields.CharField(max_length=64, null=True)
    user_agent = fields.CharField(max_length=512, null=True)

    refresh_tokens: fields.ReverseRelation[RefreshToken]
    user_id: uuid.UUID

    class Meta:
        table = "sessions"


class RefreshToken(BaseModel):
    """A refresh token of a session, stored as a SHA-256 hash. Each is used once: a second use
    means it was stolen, and the whole session ends."""

    session: fields.ForeignKeyRelation[Session] = fields.ForeignKeyField(
        "relleks.Session", related_name="refresh_tokens", on_delete=fields.CASCADE
    )
    token_hash = fields.CharField(max_length=64, unique=True)
    used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "refresh_tokens"


class TokenPurpose(StrEnum):
    VERIFY_EMAIL = "verify_email"
    RESET_PASSWORD = "reset_password"


class EmailToken(BaseModel):
    """A single-use, expiring token sent by email, stored as a SHA-256 hash."""

    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "relleks.User", related_name="email_tokens", on_delete=fields.CASCADE
    )
    purpose = fields.CharEnumField(TokenPurpose, max_length=32)
    token_hash = fields.CharField(max_length=64, unique=True)
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)
    user_id: uuid.UUID

    class Meta:
        table = "email_tokens"


class SignUpRequest(BaseModel):
    """A sign-up waiting for its address to be confirmed: what the form held (the password only
    as its argon2 hash, the birth date only as the passed check) and the SHA-256 hash of the
    token mailed to the address. confirmSignUp makes the account from it and uses it up (the
    name and password hash are then blanked). The newest request for an address replaces the
    older ones."""

    email = fields.CharField(max_length=320, db_index=True)
    name = fields.CharField(max_length=200)
    password_hash = fields.CharField(max_length=255)
    age_check_passed_at = fields.DatetimeField()
    terms_version = fields.CharField(max_length=32)
    terms_accepted_at = fields.DatetimeField()
    token_hash = fields.CharField(max_length=64, unique=True)
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "sign_up_requests"
