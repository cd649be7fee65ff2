"""`make migrate`: the data's and the keystore's migrations (and the job queue's schema), then
the plain-text personal fields of an older database encrypted (docs/encryption.md).

    python -m scripts.migrate
"""

from __future__ import annotations

import asyncio

from core.settings import Settings
from database import close_database, init_database, migrate_database
from jobs.encryption import encrypt_everything


async def main() -> None:
    settings = Settings.from_env()
    await migrate_database(settings.database_url, keystore_url=settings.keystore_url,
                           pooler=settings.database_pooler,
                           jobs_database_url=settings.jobs_database_url)
    await init_database(settings.database_url, keystore_url=settings.keystore_url,
                        pooler=settings.database_pooler)
    try:
        saved = await encrypt_everything()  # nothing to do on a database that is up to date
        print(f"encrypted {saved} rows stored in plain text or under retired keys")
    finally:
        await close_database()


if __name__ == "__main__":
    asyncio.run(main())
