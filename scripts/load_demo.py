"""Load the demo data for `make run`; running it again changes nothing.

    python -m scripts.load_demo
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from tortoise import Tortoise

from auth.passwords import hash_password
from database import init_database
from models.accounts import User
from settings import Settings

DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "demo-relleks-2026!"


async def load_demo(settings: Settings) -> None:
    await init_database(settings.database_url)
    try:
        now = datetime.now(UTC)
        _, created = await User.get_or_create(
            email=DEMO_EMAIL,
            defaults={"name": "Demo User", "password_hash": hash_password(DEMO_PASSWORD),
                      "email_verified": True, "age_check_passed_at": now,
                      "terms_version": settings.terms_version, "terms_accepted_at": now},
        )
        print(f"demo user {'created' if created else 'already there'}: "
              f"{DEMO_EMAIL} / {DEMO_PASSWORD}")
    finally:
        await Tortoise.close_connections()


if __name__ == "__main__":
    asyncio.run(load_demo(Settings.from_env()))
