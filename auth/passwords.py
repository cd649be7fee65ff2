"""Password hashing (argon2id) and the strength rule for new passwords.

Strength follows NIST SP 800-63B: 10 to 256 characters, never truncated, no composition rules, and
zxcvbn (with the user's email and name as context) rejects common and guessable passwords.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn

from core.errors import BadUserInput

MIN_LENGTH = 10
MAX_LENGTH = 256
MIN_SCORE = 3

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
_DUMMY_HASH = _hasher.hash("timing-equaliser-not-a-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check a password; with no hash (unknown email) burn the same time and fail."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def check_strength(password: str, *, field: str = "password", context: list[str]) -> None:
    """Raise BAD_USER_INPUT naming `field` with zxcvbn's own advice when the password is weak."""
    if len(password) < MIN_LENGTH:
        raise BadUserInput.field(field, f"must be at least {MIN_LENGTH} characters long")
    if len(password) > MAX_LENGTH:
        raise BadUserInput.field(field, f"must be at most {MAX_LENGTH} characters long")
    lowered = password.lower()
    for word in context:
        if len(word) >= 4 and word.lower() in lowered:
            # NIST 800-63B: refuse context-specific words (the user's name, email, service).
            raise BadUserInput.field(field, "must not contain your name or email address")
    # zxcvbn is quadratic in length, and refuses (ValueError) more than 72 characters: judge the
    # first 72, which is plenty to tell.
    result = zxcvbn(password[:72], user_inputs=[c for c in context if c])
    if result["score"] < MIN_SCORE:
        feedback = result["feedback"]
        advice = " ".join(filter(None, [feedback.get("warning"), *feedback.get("suggestions", [])]))
        raise BadUserInput.field(field, f"is too easy to guess. {advice}".strip())
