"""Configuration: safe defaults for local use, and a production server that refuses a default or
short secret (and the other unsafe set-ups `Settings.check` lists)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from core.settings import DEV_KEK_BASE64, DEV_SECRET_KEY, ROOT, ConfigurationError, Settings
from tests.production_env import PRODUCTION

pytestmark = pytest.mark.no_db



def test_production_needs_a_keystore_of_its_own_and_a_real_kek() -> None:
    no_keystore = {k: v for k, v in PRODUCTION.items() if k != "KEYSTORE_URL"}
    with pytest.raises(ConfigurationError, match="KEYSTORE_URL"):
        Settings.from_env(no_keystore)
    with pytest.raises(ConfigurationError, match="KEYSTORE_URL"):
        Settings.from_env({**PRODUCTION, "DATABASE_URL": "postgres://db/relleks",
                           "KEYSTORE_URL": "postgres://db/relleks"})
    for kek in ("", DEV_KEK_BASE64):
        with pytest.raises(ConfigurationError, match="KEK_FILE or KEK_BASE64"):
            Settings.from_env({**PRODUCTION, "KEK_BASE64": kek})
    assert Settings.from_env(PRODUCTION).keystore_url == "sqlite:///srv/keys/keystore.sqlite3"


def test_the_keystore_sits_beside_the_data_by_default() -> None:
    assert Settings(database_url="sqlite:///data/r.sqlite3").keystore_url \
        == "sqlite:///data/keystore.sqlite3"
    assert Settings(database_url="postgres://u@h:5432/relleks").keystore_url \
        == "postgres://u@h:5432/relleks_keystore"


def test_defaults_are_for_local_use() -> None:
    settings = Settings.from_env({})
    assert settings.env == "development" and not settings.production
    assert settings.secret_key == DEV_SECRET_KEY
    assert settings.database_url.startswith("sqlite://")
    assert settings.redis_url is None and settings.cookie_secure is False


def test_production_with_a_real_secret_starts_with_secure_cookies() -> None:
    settings = Settings.from_env(PRODUCTION)
    assert settings.production and settings.cookie_secure


@pytest.mark.parametrize("secret", [None, "", DEV_SECRET_KEY, "x" * 31, "short"])
def test_production_refuses_a_default_or_short_secret(secret: str | None) -> None:
    environ = {k: v for k, v in PRODUCTION.items() if k != "SECRET_KEY"}
    if secret is not None:
        environ["SECRET_KEY"] = secret
    with pytest.raises(ConfigurationError, match="SECRET_KEY"):
        Settings.from_env(environ)


def test_production_turns_introspection_and_graphiql_off_unless_asked() -> None:
    production = Settings.from_env(PRODUCTION)
    assert production.introspection is False and production.graphiql is False
    both = Settings.from_env({**PRODUCTION, "INTROSPECTION": "true", "GRAPHIQL": "true"})
    assert both.introspection is True and both.graphiql is True
    one = Settings.from_env({**PRODUCTION, "GRAPHIQL": "on"})
    assert one.introspection is False and one.graphiql is True
    # Elsewhere both stay on unless switched off.
    for env in ("development", "test"):
        assert Settings.from_env({"RELLEKS_ENV": env}).introspection is True
        assert Settings.from_env({"RELLEKS_ENV": env}).graphiql is True
    assert Settings.from_env({"INTROSPECTION": "false"}).introspection is False


def test_development_accepts_the_default_secret() -> None:
    assert Settings.from_env({"RELLEKS_ENV": "development"}).secret_key == DEV_SECRET_KEY


@pytest.mark.parametrize(("changes", "message"), [
    ({"SMTP_URL": ""}, "SMTP_URL"),
    ({"COOKIE_SECURE": "false"}, "COOKIE_SECURE"),
    ({"RELLEKS_ENV": "prod"}, "RELLEKS_ENV"),
    ({"STORAGE_BACKEND": "ftp"}, "STORAGE_BACKEND"),
    ({"MAX_HEADER_BYTES": "100"}, "MAX_HEADER_BYTES"),
    ({"HEADER_TIMEOUT": "0"}, "HEADER_TIMEOUT"),
    ({"WS_MAX_SOCKETS_PER_CREDENTIAL": "0"}, "WS_MAX_SOCKETS_PER_CREDENTIAL"),
    ({"WS_MAX_SOCKETS_PER_IP": "-1"}, "WS_MAX_SOCKETS_PER_IP"),
    ({"WS_SOCKET_LEASE_SECONDS": "0"}, "WS_SOCKET_LEASE_SECONDS"),
])
def test_other_unsafe_set_ups_are_refused(changes: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Settings.from_env({**PRODUCTION, **changes})


def _environ(**values: str) -> dict[str, str]:
    """A clean environment for a child process: no setting leaks in from the test run."""
    keep = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "TMPDIR"}}
    return {**keep, **values}


def _start(code: str, environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environ,
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("secret", [None, DEV_SECRET_KEY, "too-short-secret"])
def test_the_server_process_refuses_to_start_in_production(secret: str | None) -> None:
    environ = _environ(RELLEKS_ENV="production", SMTP_URL="smtp://mail.example.com:587")
    if secret is not None:
        environ["SECRET_KEY"] = secret
    result = _start("from server import create_app; create_app()", environ)
    assert result.returncode != 0
    assert "ConfigurationError" in result.stderr
    assert "SECRET_KEY must be set" in result.stderr


def test_the_server_process_starts_in_production_with_a_real_secret() -> None:
    result = _start("from server import create_app; create_app(); print('built')",
                    _environ(**PRODUCTION, DATABASE_URL="sqlite://:memory:"))
    assert result.returncode == 0, result.stderr
    assert "built" in result.stdout


def test_uvicorn_refuses_to_serve_in_production_on_the_default_secret() -> None:
    """What `uvicorn server:app` (the production command) does with the same environment."""
    environ = _environ(RELLEKS_ENV="production", SMTP_URL="smtp://mail.example.com:587")
    result = subprocess.run(
        [sys.executable, "-m", "uvicorn", "server:app", "--host", "127.0.0.1", "--port", "0"],
        cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


# Encryption in transit (docs/backups.md "In transit"): PostgreSQL and Redis over TLS.

PG = "postgres://relleks:pw@db.internal:5432/relleks"


def test_database_sslmode_goes_into_the_url_and_to_asyncpg() -> None:
    from database import _connection

    settings = Settings.from_env({"DATABASE_URL": PG, "DATABASE_SSLMODE": "verify-full"})
    assert settings.database_url == PG + "?sslmode=verify-full"
    assert _connection(settings.database_url)["credentials"]["ssl"] == "verify-full"
    replaced = Settings.from_env({"DATABASE_URL": PG + "?sslmode=disable&maxsize=9",
                                  "DATABASE_SSLMODE": "require"})
    assert replaced.database_url == PG + "?maxsize=9&sslmode=require"


def test_a_bad_sslmode_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="DATABASE_SSLMODE"):
        Settings.from_env({"DATABASE_URL": PG, "DATABASE_SSLMODE": "always"})
    with pytest.raises(ConfigurationError, match="sslmode"):
        Settings.from_env({"DATABASE_URL": PG + "?sslmode=sometimes"})


@pytest.mark.parametrize("environ", [
    {"DATABASE_URL": PG},
    {"DATABASE_URL": PG, "DATABASE_SSLMODE": "prefer"},
    {"DATABASE_URL": PG + "?sslmode=allow"},
    {"REDIS_URL": "redis://cache.internal:6379/0"},
    {"DATABASE_URL": PG, "DATABASE_SSLMODE": "require", "REDIS_URL": "redis://cache:6379/0"},
])
def test_production_refuses_plaintext_internal_connections(environ: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError, match=r"TLS in production.*ALLOW_PLAINTEXT_INTERNAL"):
        Settings.from_env({**PRODUCTION, **environ})
    allowed = Settings.from_env({**PRODUCTION, **environ, "ALLOW_PLAINTEXT_INTERNAL": "1"})
    assert allowed.plaintext_connections()  # allowed, and still known for what it is


@pytest.mark.parametrize("environ", [
    {"DATABASE_URL": PG, "DATABASE_SSLMODE": "verify-full",
     "REDIS_URL": "rediss://cache.internal:6380/0"},
    {"DATABASE_URL": PG + "?sslmode=require"},
    {},  # the embedded SQLite file, no Redis: nothing travels
])
def test_production_starts_with_tls_everywhere(environ: dict[str, str]) -> None:
    settings = Settings.from_env({**PRODUCTION, **environ})
    assert settings.production and settings.plaintext_connections() == []


def test_development_allows_plaintext() -> None:
    settings = Settings.from_env({"DATABASE_URL": PG, "REDIS_URL": "redis://127.0.0.1:6379/0"})
    assert [found.split()[0] for found in settings.plaintext_connections()] == [
        "DATABASE_URL", "KEYSTORE_URL", "REDIS_URL"]  # the keystore beside the data, too


def test_database_sslmode_reaches_the_keystore() -> None:
    derived = Settings.from_env({"DATABASE_URL": PG, "DATABASE_SSLMODE": "require"})
    assert derived.keystore_url == PG + "_keystore?sslmode=require"
    named = Settings.from_env({"DATABASE_URL": PG, "DATABASE_SSLMODE": "verify-full",
                               "KEYSTORE_URL": "postgres://keys.internal/keys"})
    assert named.keystore_url == "postgres://keys.internal/keys?sslmode=verify-full"
    assert named.plaintext_connections() == []
    with pytest.raises(ConfigurationError, match="KEYSTORE_URL \\(set DATABASE_SSLMODE"):
        Settings.from_env({**PRODUCTION, "KEYSTORE_URL": "postgres://keys.internal/keys"})


def test_rate_limits_reach_redis_over_tls() -> None:
    from core.settings import limits_storage_uri

    assert limits_storage_uri("rediss://cache:6380/1") == "async+rediss://cache:6380/1"
    assert limits_storage_uri("redis://cache:6379/1") == "async+redis://cache:6379/1"
    assert limits_storage_uri(None) == "async+memory://"


def test_backup_settings_default_and_parse(tmp_path: object) -> None:
    from core.settings import Retention

    settings = Settings.from_env({})
    assert settings.backup_dir == ROOT / "var" / "backups"
    assert settings.backup_schedule == Retention(daily=7, weekly=4)
    assert settings.keystore_backup_schedule == Retention(daily=3, weekly=1)
    custom = Settings.from_env({"BACKUP_DIR": "/srv/backups", "BACKUP_RETENTION": "daily=14",
                                "KEYSTORE_BACKUP_RETENTION": "daily=2"})
    assert str(custom.backup_dir) == "/srv/backups"
    assert custom.backup_schedule == Retention(daily=14, weekly=0)
    with pytest.raises(ConfigurationError, match="KEYSTORE_BACKUP_RETENTION"):
        Settings.from_env({"KEYSTORE_BACKUP_RETENTION": "weekly=0"})


def test_the_ledger_key_is_its_own_or_derived_from_the_secret() -> None:
    derived = Settings.from_env({}).ledger_key
    assert derived != DEV_SECRET_KEY.encode() and len(derived) == 32
    assert Settings.from_env({"ERASURE_LEDGER_KEY": "k" * 40}).ledger_key == b"k" * 40
    assert Settings.from_env({"SECRET_KEY": "another-secret-" * 3}).ledger_key != derived
