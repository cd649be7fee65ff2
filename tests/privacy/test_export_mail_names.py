"""The export-ready mail greets nobody by name, like the account mails
(tests/accounts/test_mail_names.py): an account's name is what whoever made it typed."""

from __future__ import annotations

from typing import Any

from models.accounts import User
from models.orgs import Role
from tests.conftest import Api
from tests.orgs.conftest import Team
from tests.privacy.conftest import run_jobs
from tests.smtp import Inbox, body_of

NAME = "Security team: confirm at evil.example/login"
REQUEST = "mutation { requestDataExport { dataExport { id } } }"


async def test_the_export_ready_mail_carries_no_name_anyone_typed(
        api: Api, app: Any, team: Team, inbox: Inbox) -> None:
    member = team.people[Role.MEMBER]
    await User.filter(id=member.user.id).update(name=NAME)
    body = await api.gql(REQUEST, token=member.token)
    assert "errors" not in body, body
    await run_jobs(app)

    (mail,) = inbox.to(member.email, "export is ready")
    text = body_of(mail)
    assert text.splitlines()[0] == "Hello,"
    assert "evil" not in text and "Security team" not in text
    assert str(mail["Subject"]) == "Your Relleks data export is ready"
