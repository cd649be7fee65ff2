"""What leaves for the provider (minimised), what is kept and for whom: deleted with the lead,
erased with the person, in their export; no export job carries AI inputs."""

from __future__ import annotations

import io
import json
import zipfile

from jobs.exports import org_archive, user_archive
from models.ai import AiGeneration
from models.consents import ConsentKind
from models.orgs import Role
from models.tenancy import EVERY_ORG, system_scope
from resolvers.consents import has_consent
from tests.ai.conftest import DRAFT, SUMMARY, FakeOpenAI, finished, lead_of
from tests.conftest import Api
from tests.orgs.conftest import Team

EMAIL = "grace.hopper@navy.example"
PHONE = "+14155552671"
STREET = "1 Hopper Way"
CITY_LINE = "Suite 42"
NOTE = ("Met at the conference; her assistant wrote from assistant.bob@navy.example and "
        "asked to be called on (415) 555-0199. Mia Member will follow up.")
ADD_NOTE = "mutation($i: AddNoteInput!) { addNote(input: $i) { note { id } } }"
EXPORT = """mutation($org: ID!, $email: String!) {
  exportDataSubject(input: {organizationId: $org, email: $email}) { dataSubjectExport {
    document } } }"""
ERASE = """mutation($org: ID!, $email: String!) {
  eraseDataSubject(input: {organizationId: $org, email: $email}) { dataSubjectErasure {
    leadsDeleted } } }"""
DELETE_LEAD = "mutation($id: ID!) { deleteLead(input: {id: $id}) { deletedId } }"


def generations() -> object:
    return system_scope(EVERY_ORG, reason="test").scoped(AiGeneration)


async def grace(api: Api, team: Team) -> str:
    lead = await lead_of(api, team, email=EMAIL, phone=PHONE, company="Navy",
                         address={"line1": STREET, "line2": CITY_LINE, "city": "Arlington",
                                  "postalCode": "22201", "country": "US"})
    body = await api.gql(ADD_NOTE, {"i": {"leadId": lead, "body": NOTE}},
                         token=team.people[Role.MEMBER].token)
    assert "errors" not in body, body
    return lead


async def test_the_provider_receives_no_contact_data(api: Api, team: Team,
                                                     fake_openai: FakeOpenAI) -> None:
    member = team.people[Role.MEMBER].token
    lead = await grace(api, team)
    body = await api.gql(SUMMARY, {"lead": lead}, token=member)
    await finished(api, body["data"]["generateLeadSummary"]["generation"]["id"], member)
    body = await api.gql(DRAFT, {"lead": lead, "purpose": f"Reply to {EMAIL} or call {PHONE}, "
                                                          f"and visit {STREET}"}, token=member)
    draft = await finished(api, body["data"]["draftEmail"]["generation"]["id"], member)
    assert len(fake_openai.requests) == 2
    sent = json.dumps(fake_openai.requests)
    for secret in (EMAIL, PHONE, "4155552671", STREET, CITY_LINE, "assistant.bob@navy.example",
                   "555-0199", "Mia Member", "Olive Owner"):
        assert secret not in sent, secret
    assert "Grace Hopper" in sent and "Navy" in sent  # the lead's own name and company go
    assert "[EMAIL_" in sent and "[PHONE_" in sent
    assert EMAIL not in (draft["purpose"] or "") and STREET not in (draft["purpose"] or "")
    stored = await generations().order_by("created_at")
    assert "note.body\N{MULTIPLICATION SIGN}1" in stored[0].data_manifest
    assert "purpose" in stored[1].data_manifest
    assert not any(name.startswith(("lead.email", "lead.phone", "lead.address"))
                   for row in stored for name in row.data_manifest)
    # The API key went as a bearer token, and the provider was asked not to store the call.
    assert fake_openai.headers[0]["authorization"] == "Bearer sk-test-key"
    assert fake_openai.requests[0].get("store") is False


async def test_generations_go_with_the_lead_and_the_person(api: Api, team: Team) -> None:
    owner = team.people[Role.OWNER].token
    lead = await grace(api, team)
    body = await api.gql(SUMMARY, {"lead": lead}, token=owner)
    await finished(api, body["data"]["generateLeadSummary"]["generation"]["id"], owner)
    exported = await api.gql(EXPORT, {"org": team.org_id, "email": EMAIL}, token=owner)
    document = exported["data"]["exportDataSubject"]["dataSubjectExport"]["document"]
    (generation,) = document["aiGenerations"]
    assert generation["leadId"] == lead and generation["feature"] == "SUMMARY"
    assert generation["provider"] == "openai-compatible" and generation["model"] == "fake-model"
    assert "lead.name" in generation["dataManifest"] and generation["text"]
    erased = await api.gql(ERASE, {"org": team.org_id, "email": EMAIL}, token=owner)
    assert erased["data"]["eraseDataSubject"]["dataSubjectErasure"]["leadsDeleted"] == 1
    assert await generations().count() == 0
    other = await lead_of(api, team, name="Ada Lovelace")
    body = await api.gql(SUMMARY, {"lead": other}, token=owner)
    await finished(api, body["data"]["generateLeadSummary"]["generation"]["id"], owner)
    assert await generations().count() == 1
    deleted = await api.gql(DELETE_LEAD, {"id": other}, token=owner)
    assert "errors" not in deleted, deleted
    assert await generations().count() == 0


async def test_no_export_job_carries_ai_inputs_and_training_consent_is_off(
        api: Api, team: Team) -> None:
    owner = team.people[Role.OWNER]
    assert not await has_consent(owner.user.id, ConsentKind.AI_TRAINING)
    lead = await grace(api, team)
    purpose = "Invite her to the zebra-striped launch party"
    body = await api.gql(DRAFT, {"lead": lead, "purpose": purpose}, token=owner.token)
    await finished(api, body["data"]["draftEmail"]["generation"]["id"], owner.token)
    for granted in (False, True):  # even with the consent, no export carries inputs
        if granted:
            body = await api.gql("""mutation { setConsent(input: {kind: AI_TRAINING,
                granted: true}) { consent { granted } } }""", token=owner.token)
            assert "errors" not in body, body
            assert await has_consent(owner.user.id, ConsentKind.AI_TRAINING)
        archive = zipfile.ZipFile(io.BytesIO(await org_archive(team.org.id)))
        everything = " ".join(archive.read(name).decode() for name in archive.namelist())
        assert "ai_generations.json" in archive.namelist()
        rows = json.loads(archive.read("ai_generations.json"))
        assert len(rows) == 1 and "data_manifest" in rows[0] and "purpose" not in rows[0]
        assert "zebra-striped" not in everything
        personal = zipfile.ZipFile(io.BytesIO(await user_archive(owner.user)))
        assert "zebra-striped" not in " ".join(
            personal.read(name).decode() for name in personal.namelist())
