"""CORS on the public form endpoints: only the form's allowed origins, that origin exactly, never
`*` and never with credentials, preflight included; the API's own CORS (ALLOWED_ORIGINS, with
credentials) never answers here, and still answers on /graphql."""

from __future__ import annotations

import httpx
import pytest

from core.settings import Settings
from models.forms import LeadForm
from models.orgs import Organization
from tests.forms_web.conftest import OTHER, SITE, make_form

APP_ORIGIN = "http://localhost:3000"
"""One of the test settings' ALLOWED_ORIGINS: the API's own web app."""


def preflight(origin: str, method: str = "POST", headers: str = "content-type") -> dict:
    return {"origin": origin, "access-control-request-method": method,
            "access-control-request-headers": headers}


async def test_a_preflight_from_an_allowed_origin(http: httpx.AsyncClient,
                                                  form: LeadForm) -> None:
    response = await http.options(f"/f/{form.public_id}", headers=preflight(SITE))
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == SITE
    assert response.headers["access-control-allow-methods"] == "POST"
    assert response.headers["access-control-allow-headers"] == "content-type"
    assert response.headers["access-control-max-age"] == "600"
    assert response.headers["vary"] == "Origin"
    assert "access-control-allow-credentials" not in response.headers
    challenge = await http.options(f"/f/{form.public_id}/challenge",
                                   headers=preflight(SITE, "GET"))
    assert challenge.status_code == 204
    assert challenge.headers["access-control-allow-methods"] == "GET"


@pytest.mark.parametrize("headers", [
    preflight(OTHER),
    preflight(APP_ORIGIN),  # the API's own app: not one of this form's origins
    preflight("null"),
    preflight(SITE, method="PUT"),
    preflight(SITE, headers="content-type, authorization"),
    preflight(SITE, headers="x-csrf-token"),
])
async def test_other_preflights_are_refused_without_cors_headers(
        http: httpx.AsyncClient, form: LeadForm, headers: dict) -> None:
    response = await http.options(f"/f/{form.public_id}", headers=headers)
    assert response.status_code == 403
    assert not [h for h in response.headers if h.startswith("access-control-")]


async def test_a_preflight_for_an_unknown_form(http: httpx.AsyncClient, app: object) -> None:
    response = await http.options("/f/AAAAAAAAAAAAAAAA", headers=preflight(SITE))
    assert response.status_code == 404
    assert "access-control-allow-origin" not in response.headers


async def test_origins_are_per_form(http: httpx.AsyncClient, settings: Settings,
                                    org: Organization, form: LeadForm) -> None:
    other = await make_form(org, name="Shop", allowed_origins=["https://shop.acme.test"])
    mine = await http.options(f"/f/{other.public_id}",
                              headers=preflight("https://shop.acme.test"))
    theirs = await http.options(f"/f/{other.public_id}", headers=preflight(SITE))
    assert (mine.status_code, theirs.status_code) == (204, 403)
    assert mine.headers["access-control-allow-origin"] == "https://shop.acme.test"


async def test_the_apis_cors_never_answers_on_form_paths_but_still_on_graphql(
        http: httpx.AsyncClient, form: LeadForm) -> None:
    for response in (await http.get(f"/f/{form.public_id}", headers={"origin": APP_ORIGIN}),
                     await http.post(f"/f/{form.public_id}", json={},
                                     headers={"origin": APP_ORIGIN})):
        assert "access-control-allow-origin" not in response.headers
        assert "access-control-allow-credentials" not in response.headers
    api = await http.options("/graphql", headers=preflight(APP_ORIGIN))
    assert api.status_code == 200
    assert api.headers["access-control-allow-origin"] == APP_ORIGIN
    assert api.headers["access-control-allow-credentials"] == "true"


async def test_a_page_is_answered_without_cors(http: httpx.AsyncClient, form: LeadForm) -> None:
    """The hosted page is a navigation, never read by another origin's script."""
    response = await http.get(f"/f/{form.public_id}", headers={"origin": SITE})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers
