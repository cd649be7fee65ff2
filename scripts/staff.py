"""Give or take the Relleks staff role (the help center's staff: they read and answer every
support ticket). Never through the API: only whoever runs this against the database can.

    python -m scripts.staff grant ada@relleks.example
    python -m scripts.staff revoke ada@relleks.example

The person must have an account. The role alone shows no organization's data: an OWNER grants
staff a time-bound look at their organization from a ticket (docs/support.md).
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import structlog

from core.settings import Settings
from database import close_database, init_database
from models.accounts import User
from models.support import StaffMember

log = structlog.get_logger("relleks.staff")


class UnknownPerson(LookupError):
    """No account has that email."""


async def set_staff(email: str, *, staff: bool) -> bool:
    """Give (`staff=True`) or take the role of the account with `email`; whether anything
    changed. UnknownPerson when no account has it."""
    user = await User.filter(email=email.strip().lower()).first()
    if user is None:
        raise UnknownPerson(email)
    if staff:
        _, created = await StaffMember.get_or_create(user_id=user.id)
        changed = created
    else:
        changed = bool(await StaffMember.filter(user_id=user.id).delete())
    log.info("staff.granted" if staff else "staff.revoked", user_id=str(user.id),
             changed=changed)
    return changed


async def main(action: str, email: str) -> int:
    settings = Settings.from_env()
    await init_database(settings.database_url, keystore_url=settings.keystore_url)
    try:
        changed = await set_staff(email, staff=action == "grant")
    except UnknownPerson:
        print(f"no account has the email {email}", file=sys.stderr)
        return 1
    finally:
        await close_database()
    state = "is now staff" if action == "grant" else "is no longer staff"
    print(f"{email} {state}" if changed else f"{email}: nothing to change")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["grant", "revoke"])
    parser.add_argument("email")
    arguments = parser.parse_args()
    sys.exit(asyncio.run(main(arguments.action, arguments.email)))
