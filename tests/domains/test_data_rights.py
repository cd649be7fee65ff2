"""An organization's custom domains are its data: its export lists them, and its deletion (the
job that erases the organization) deletes them, so its hostnames stop serving and the TLS `ask`
refuses them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from jobs.exports import org_archive
from jobs.work import run
from models.custom_domains import CustomDomain
from models.jobs import ScheduledWork, WorkKind
from models.orgs import Role
from models.tenancy import EVERY_ORG, system_scope
from tests.conftest import Api
from tests.domains.conftest import added, on_host, verified
from tests.nameserver import Zone
from tests.orgs.conftest import Team
from tests.privacy.conftest import unzip

HOST = "forms.acme-shop.com"


async def test_the_organization_export_lists_its_domains(api: Api, team: Team, rival: Team,
                                                         zone: Zone) -> None:
    await verified(api, team, zone, HOST)
    await added(api, rival, "forms.globex-shop.com")
    files = unzip(await org_archive(team.org.id))
    (domain,) = json.loads(files["custom_domains.json"])
    assert domain["hostname"] == HOST and domain["status"] == "verified"
    assert domain["verdict"] == "verified" and domain["verified_at"]
    assert "verification_token" not in domain and "globex" not in files["custom_domains.csv"]


async def test_deleting_the_organization_deletes_its_domains(app: Any, api: Api, team: Team,
                                                             rival: Team, zone: Zone) -> None:
    await verified(api, team, zone, HOST)
    theirs = await added(api, rival, "forms.globex-shop.com")
    work = await ScheduledWork.create(kind=WorkKind.ORG_DELETION, organization_id=team.org.id,
                                      user_id=team.people[Role.OWNER].user.id,
                                      due_at=datetime.now(UTC))
    assert await run(app.state.services, work.id, final_attempt=True)  # the deletion job
    left = await system_scope(EVERY_ORG, reason="test").scoped(CustomDomain).values_list(
        "hostname", flat=True)
    assert left == [theirs["hostname"]]
    assert (await api.http.get("/internal/tls-ask", params={"domain": HOST})).status_code == 404
    # No org holds the hostname any more: it is the API's again, as any unknown host.
    assert (await api.http.get("/", headers=on_host(HOST))).status_code == 307
