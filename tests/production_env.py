"""The smallest environment production starts with: a real secret, a mail server, a keystore
apart from the data and a key-encryption key (docs/encryption.md). Tests of one production rule
start from it, so a rule added later does not break every other test of production."""

from __future__ import annotations

GOOD_SECRET = "k3J9xq2V7mZp0sLr8TnW4yBc6HdF1gAe5uQiOoXv"  # 40 characters
GOOD_KEK = "q0W5yL2pZk8vN3mR7tB1xC4dF6gH9jK0sA2eU5iO8lM="  # 32 bytes
PRODUCTION = {"RELLEKS_ENV": "production", "SECRET_KEY": GOOD_SECRET,
              "SMTP_URL": "smtp://mail.example.com:587",
              "KEYSTORE_URL": "sqlite:///srv/keys/keystore.sqlite3", "KEK_BASE64": GOOD_KEK}
