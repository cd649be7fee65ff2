"""Load the demo data for `make run`; running it again changes nothing.

    python -m scripts.load_demo

Demo people (all with the password DEMO_PASSWORD) and the org they share, one of each role.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from tortoise import Tortoise
from tortoise.transactions import in_transaction

from auth.passwords import hash_password
from database import init_database
from models.accounts import User
from models.orgs import Membership, Organization, Role
from settings import Settings

DEMO_PASSWORD = "demo-relleks-2026!"
DEMO_ORG_SLUG = "demo-co"
DEMO_PEOPLE = (
    ("demo@example.com", "Dana Demo", Role.OWNER),
    ("admin@example.com", "Ari Admin", Role.ADMIN),
    ("member@example.com", "Mo Member", Role.MEMBER),
    ("viewer@example.com", "Val Viewer", Role.VIEWER),
)


async def load_demo(settings: Settings) -> None:
    await init_database(settings.database_url)
    try:
        if await Organization.filter(slug=DEMO_ORG_SLUG).exists():
            print("demo data already there")
        else:
            await _create(settings)
        print(f"demo organization `{DEMO_ORG_SLUG}`; sign in as any of these, password "
              f"{DEMO_PASSWORD!r}:")
        for email, _, role in DEMO_PEOPLE:
            print(f"  {role.name:<7} {email}")
    finally:
        await Tortoise.close_connections()


async def _create(settings: Settings) -> None:
    now = datetime.now(UTC)
    password_hash = hash_password(DEMO_PASSWORD)
    async with in_transaction():
        org = await Organization.create(name="Demo Co", slug=DEMO_ORG_SLUG)
        for email, name, role in DEMO_PEOPLE:
            user, _ = await User.get_or_create(email=email, defaults={
                "name": name, "password_hash": password_hash, "email_verified": True,
                "age_check_passed_at": now, "terms_version": settings.terms_version,
                "terms_accepted_at": now})
            await Membership.create(organization=org, user=user, role=role)


if __name__ == "__main__":
    asyncio.run(load_demo(Settings.from_env()))
