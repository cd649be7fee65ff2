"""Rotate the key-encryption key: every data key unwrapped with the current KEK (KEK_FILE or
KEK_BASE64) and wrapped with a new one (docs/encryption.md "Rotation").

    python -m scripts.rewrap_keys --new-kek-file /etc/relleks/kek-2027.b64

Resumable: keys already wrapped by the new KEK are skipped. Then set KEK_FILE to the new file
and restart the servers and workers.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from core.settings import Settings
from database import close_database, init_database
from keystore import keys
from keystore.kek import LocalKek, kek_from_settings


async def main(new: LocalKek) -> int:
    settings = Settings.from_env()
    old = kek_from_settings(settings)
    await init_database(settings.database_url, keystore_url=settings.keystore_url,
                        pooler=settings.database_pooler)
    try:
        return await keys.rewrap(new, old)
    finally:
        await close_database()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--new-kek-file", type=Path, required=True,
                        help="a file holding the new KEK: base64 of 32 random bytes")
    new_kek = LocalKek.from_base64(parser.parse_args().new_kek_file.read_text())
    count = asyncio.run(main(new_kek))
    print(f"rewrapped {count} data keys")
