"""The AI features end to end: off until enabled, who may do what, the provider's answer
stored with its provenance, credits charged only on success, errors as codes."""

from __future__ import annotations

import json

from models.ai import AiGeneration
from models.orgs import Role
from models.tenancy import EVERY_ORG, system_scope
from tests.ai.conftest import (
    DRAFT,
    NEXT_STEPS,
    SUMMARY,
    USAGE,
    FakeOpenAI,
    enable,
    finished,
    lead_of,
)
from tests.ai_fake import CONTENT_FILTER, DEFAULT_REPLY
from tests.conftest import Api, error_code, errors_of
from tests.orgs.conftest import Team

ACTIVITY = """query($slug: String!) { organization(slug: $slug) {
  activity(first: 5) { nodes { action } } } }"""


async def test_off_until_an_owner_or_admin_turns_it_on(api: Api, team: Team) -> None:
    member = team.people[Role.MEMBER].token
    await enable(api, team, False)
    lead = await lead_of(api, team)
    refused = await api.gql(SUMMARY, {"lead": lead}, token=member)
    assert error_code(refused) == "CONFLICT"
    assert errors_of(refused)[0]["extensions"]["reason"] == "AI_DISABLED"
    assert await system_scope(EVERY_ORG, reason="test").scoped(AiGeneration).count() == 0
    # A MEMBER cannot turn it on; an API token could not either (person only).
    body = await api.gql("""mutation($org: ID!) { setOrganizationAiEnabled(input: {
        organizationId: $org, enabled: true}) { organization { aiEnabled } } }""",
                         {"org": team.org_id}, token=member)
    assert error_code(body) == "FORBIDDEN"
    body = await api.gql("""mutation($org: ID!) { setOrganizationAiEnabled(input: {
        organizationId: $org, enabled: true}) { organization { aiEnabled } } }""",
                         {"org": team.org_id}, token=team.people[Role.ADMIN].token)
    assert body["data"]["setOrganizationAiEnabled"]["organization"]["aiEnabled"] is True
    log = await api.gql(ACTIVITY, {"slug": team.slug}, token=team.people[Role.OWNER].token)
    actions = [n["action"] for n in log["data"]["organization"]["activity"]["nodes"]]
    assert actions[:3] == ["AI_ENABLED", "LEAD_CREATED", "AI_DISABLED"], actions
    ok = await api.gql(SUMMARY, {"lead": lead}, token=member)
    assert "errors" not in ok, ok
    assert ok["data"]["generateLeadSummary"]["generation"]["status"] in {"PENDING", "STREAMING"}


async def test_a_summary_is_stored_with_its_provenance_for_admins_only(
        api: Api, team: Team, fake_openai: FakeOpenAI) -> None:
    member = team.people[Role.MEMBER]
    admin = team.people[Role.ADMIN].token
    lead = await lead_of(api, team, company="Navy")
    body = await api.gql(SUMMARY, {"lead": lead}, token=member.token)
    generation = body["data"]["generateLeadSummary"]["generation"]
    assert generation["feature"] == "SUMMARY" and generation["leadId"] == lead
    assert generation["requestedBy"] == {"id": member.id}
    done = await finished(api, generation["id"], admin, provenance=True)
    assert done["status"] == "SUCCEEDED" and done["text"] == DEFAULT_REPLY
    assert done["finishedAt"] and done["errorCode"] is None
    provenance = done["provenance"]
    assert provenance["provider"] == "openai-compatible" and provenance["model"] == "fake-model"
    assert provenance["promptVersion"].startswith("summary/")
    assert len(provenance["inputHash"]) == 64
    assert "lead.name" in provenance["dataManifest"]
    assert "lead.company" in provenance["dataManifest"]
    assert provenance["inputTokens"] > 0 and provenance["outputTokens"] > 0
    assert provenance["creditsCharged"] == 1 and provenance["latencyMs"] is not None
    sent = fake_openai.requests[-1]
    assert sent["model"] == "fake-model" and sent["stream"] is True
    # A MEMBER reads the text, not the provenance nor the usage.
    mine = await api.gql("""query($id: ID!) { node(id: $id) { ... on AiGeneration {
        text provenance { model } } } }""", {"id": generation["id"]}, token=member.token)
    assert mine["data"]["node"]["text"] == DEFAULT_REPLY
    assert mine["data"]["node"]["provenance"] is None
    assert error_code(mine) == "FORBIDDEN"
    usage = await api.gql(USAGE, {"slug": team.slug}, token=member.token)
    assert error_code(usage) == "FORBIDDEN"
    usage = await api.gql(USAGE, {"slug": team.slug}, token=admin)
    summary = usage["data"]["organization"]["aiUsage"]
    assert (summary["enabled"], summary["creditsUsed"], summary["creditsLimit"],
            summary["calls"], summary["failedCalls"]) == (True, 1, 2000, 1, 0)
    assert summary["generations"]["totalCount"] == 1
    assert summary["generations"]["nodes"][0]["provenance"]["creditsCharged"] == 1
    # The lead lists it.
    listed = await api.gql("""query($id: ID!) { node(id: $id) { ... on Lead {
        aiGenerations(first: 5) { totalCount nodes { id status } } } } }""", {"id": lead},
                           token=member.token)
    connection = listed["data"]["node"]["aiGenerations"]
    assert connection["totalCount"] == 1
    assert connection["nodes"] == [{"id": generation["id"], "status": "SUCCEEDED"}]


async def test_next_steps_are_parsed_and_garbage_fails_without_charge(
        api: Api, team: Team, fake_openai: FakeOpenAI) -> None:
    admin = team.people[Role.ADMIN].token
    lead = await lead_of(api, team)
    fake_openai.reply_text = json.dumps({"steps": [
        {"action": "Call Grace", "reason": "She asked for pricing."},
        {"action": "Send the deck", "reason": "Follow-up."}]})
    body = await api.gql(NEXT_STEPS, {"lead": lead}, token=admin)
    done = await finished(api, body["data"]["suggestNextSteps"]["generation"]["id"], admin,
                          provenance=True)
    assert done["status"] == "SUCCEEDED"
    assert done["nextSteps"] == [{"action": "Call Grace", "reason": "She asked for pricing."},
                                 {"action": "Send the deck", "reason": "Follow-up."}]
    fake_openai.reply_text = "Sorry, I cannot answer in JSON today."
    body = await api.gql(NEXT_STEPS, {"lead": lead}, token=admin)
    failed = await finished(api, body["data"]["suggestNextSteps"]["generation"]["id"], admin,
                            provenance=True)
    assert failed["status"] == "FAILED" and failed["errorCode"] == "BAD_USER_INPUT"
    assert failed["provenance"]["creditsCharged"] == 0 and failed["nextSteps"] is None


async def test_provider_errors_fail_the_generation_and_charge_nothing(
        api: Api, team: Team, fake_openai: FakeOpenAI) -> None:
    admin = team.people[Role.ADMIN].token
    lead = await lead_of(api, team)
    outcomes = []
    for status, payload in ((500, None), (429, None), (400, CONTENT_FILTER)):
        fake_openai.fail_with(status, payload)
        body = await api.gql(SUMMARY, {"lead": lead}, token=admin)
        assert "errors" not in body, body
        done = await finished(api, body["data"]["generateLeadSummary"]["generation"]["id"],
                              admin, provenance=True)
        outcomes.append((done["status"], done["errorCode"],
                         done["provenance"]["creditsCharged"]))
        assert done["errorMessage"] and "sk-test" not in done["errorMessage"]
    assert outcomes == [("FAILED", "UNAVAILABLE", 0), ("FAILED", "UNAVAILABLE", 0),
                        ("FAILED", "BAD_USER_INPUT", 0)]
    fake_openai.failure = None
    fake_openai.delay = 3.0  # past AI_TIMEOUT_SECONDS (2 s here)
    body = await api.gql(SUMMARY, {"lead": lead}, token=admin)
    done = await finished(api, body["data"]["generateLeadSummary"]["generation"]["id"], admin)
    assert (done["status"], done["errorCode"]) == ("FAILED", "UNAVAILABLE")
    usage = await api.gql(USAGE, {"slug": team.slug}, token=admin)
    summary = usage["data"]["organization"]["aiUsage"]
    assert (summary["creditsUsed"], summary["calls"], summary["failedCalls"]) == (0, 4, 4)


async def test_draft_purpose_is_bounded(api: Api, team: Team) -> None:
    member = team.people[Role.MEMBER].token
    lead = await lead_of(api, team)
    for purpose in ("", "   ", "x" * 501, "bad\u200bchar"):
        body = await api.gql(DRAFT, {"lead": lead, "purpose": purpose}, token=member)
        assert error_code(body) == "BAD_USER_INPUT", purpose
        assert "purpose" in errors_of(body)[0]["extensions"]["fields"]
    body = await api.gql(DRAFT, {"lead": lead, "purpose": "x" * 500}, token=member)
    assert "errors" not in body, body
    done = await finished(api, body["data"]["draftEmail"]["generation"]["id"], member)
    assert done["status"] == "SUCCEEDED" and done["purpose"] == "x" * 500


async def test_another_tenants_ids_are_not_found(api: Api, team: Team, rival: Team) -> None:
    theirs = await lead_of(api, rival)
    member = team.people[Role.MEMBER].token
    for query, variables in ((SUMMARY, {"lead": theirs}), (NEXT_STEPS, {"lead": theirs}),
                             (DRAFT, {"lead": theirs, "purpose": "Follow up"})):
        body = await api.gql(query, variables, token=member)
        assert error_code(body) == "NOT_FOUND", body
    body = await api.gql(SUMMARY, {"lead": theirs}, token=rival.people[Role.MEMBER].token)
    their_generation = body["data"]["generateLeadSummary"]["generation"]["id"]
    await finished(api, their_generation, rival.people[Role.MEMBER].token)
    seen = await api.gql("""query($id: ID!) { node(id: $id) { id } }""",
                         {"id": their_generation}, token=team.people[Role.OWNER].token)
    assert error_code(seen) == "NOT_FOUND"
    # A VIEWER has no ai:use.
    mine = await lead_of(api, team)
    body = await api.gql(SUMMARY, {"lead": mine}, token=team.people[Role.VIEWER].token)
    assert error_code(body) == "FORBIDDEN"


async def test_a_restricted_lead_is_refused(api: Api, team: Team) -> None:
    lead = await lead_of(api, team)
    body = await api.gql("""mutation($id: ID!) { restrictProcessing(input: {leadId: $id,
        restricted: true}) { lead { restricted } } }""", {"id": lead},
                         token=team.people[Role.OWNER].token)
    assert body["data"]["restrictProcessing"]["lead"]["restricted"] is True
    for query, variables in ((SUMMARY, {"lead": lead}), (NEXT_STEPS, {"lead": lead}),
                             (DRAFT, {"lead": lead, "purpose": "Follow up"})):
        refused = await api.gql(query, variables, token=team.people[Role.MEMBER].token)
        assert error_code(refused) == "CONFLICT"
        assert errors_of(refused)[0]["extensions"]["reason"] == "PROCESSING_RESTRICTED"
    assert await system_scope(EVERY_ORG, reason="test").scoped(AiGeneration).count() == 0
