"""Security headers: nosniff on every response, HSTS only over TLS, CORS only for the
configured origins."""

from __future__ import annotations

import httpx
import pytest

from core.settings import Settings
from tests.http.conftest import Serve

ALLOWED = "http://localhost:3000"
OTHER = "https://evil.example"


@pytest.mark.parametrize(("method", "path", "kwargs"), [
    ("POST", "/graphql", {"json": {"query": "{ __typename }"}}),
    ("POST", "/graphql", {"content": b"{oops", "headers": {"content-type": "application/json"}}),
    ("GET", "/graphql", {"params": {"query": "mutation { logOut { endedSessionId } }"}}),
    ("GET", "/graphql", {"headers": {"accept": "text/html"}}),
    ("GET", "/healthz", {}),
    ("GET", "/readyz", {}),
    ("GET", "/no-such-page", {}),
    ("GET", "/media/avatars/missing.webp", {}),
    ("OPTIONS", "/graphql", {"headers": {"origin": ALLOWED,
                                         "access-control-request-method": "POST"}}),
])
async def test_nosniff_on_every_response(http: httpx.AsyncClient, method: str, path: str,
                                        kwargs: dict) -> None:
    response = await http.request(method, path, **kwargs)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-request-id"]


async def test_nosniff_on_a_refused_oversized_body(serve: Serve) -> None:
    async with serve(max_body_bytes=100) as http:
        response = await http.post("/graphql", content=b" " * 101)
    assert response.status_code == 413
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_hsts_only_over_tls(serve: Serve, http: httpx.AsyncClient) -> None:
    plain = await http.post("/graphql", json={"query": "{ __typename }"})
    assert "strict-transport-security" not in plain.headers
    async with serve(base_url="https://api.relleks.test") as tls:
        secure = await tls.post("/graphql", json={"query": "{ __typename }"})
        health = await tls.get("/healthz")
    for response in (secure, health):
        hsts = response.headers["strict-transport-security"]
        assert hsts.startswith("max-age=") and int(hsts.split("=")[1].split(";")[0]) >= 31536000


async def test_cors_preflight_from_an_allowed_origin(http: httpx.AsyncClient,
                                                     settings: Settings) -> None:
    assert ALLOWED in settings.allowed_origins
    response = await http.options("/graphql", headers={
        "origin": ALLOWED, "access-control-request-method": "POST",
        "access-control-request-headers": "content-type, authorization, x-csrf-token"})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED
    assert response.headers["access-control-allow-credentials"] == "true"
    allowed_headers = response.headers["access-control-allow-headers"].lower()
    assert {"content-type", "authorization", "x-csrf-token"} <= \
        {h.strip() for h in allowed_headers.split(",")}


async def test_cors_refuses_other_origins(http: httpx.AsyncClient) -> None:
    preflight = await http.options("/graphql", headers={
        "origin": OTHER, "access-control-request-method": "POST"})
    assert "access-control-allow-origin" not in preflight.headers
    assert preflight.status_code >= 400
    simple = await http.post("/graphql", json={"query": "{ __typename }"},
                             headers={"origin": OTHER})
    assert "access-control-allow-origin" not in simple.headers
    allowed = await http.post("/graphql", json={"query": "{ __typename }"},
                              headers={"origin": ALLOWED})
    assert allowed.headers["access-control-allow-origin"] == ALLOWED


async def test_cors_follows_the_configured_list(serve: Serve) -> None:
    async with serve(allowed_origins=("https://app.relleks.test",)) as http:
        now_allowed = await http.options("/graphql", headers={
            "origin": "https://app.relleks.test", "access-control-request-method": "POST"})
        default_origin = await http.options("/graphql", headers={
            "origin": ALLOWED, "access-control-request-method": "POST"})
    assert now_allowed.headers["access-control-allow-origin"] == "https://app.relleks.test"
    assert "access-control-allow-origin" not in default_origin.headers


async def test_request_headers_over_the_limit_answer_431(http: httpx.AsyncClient,
                                                         serve: Serve) -> None:
    limit = Settings().max_header_bytes
    for response in (await http.get("/healthz", headers={"x-big": "a" * (limit + 1)}),
                     await http.post("/graphql", json={"query": "{ __typename }"},
                                     headers={"cookie": "c=" + "x" * limit})):
        assert response.status_code == 431
        assert response.json()["errors"][0]["extensions"] == {
            "code": "BAD_USER_INPUT", "reason": "HEADERS_TOO_LARGE", "limit": limit}
        assert response.headers["x-content-type-options"] == "nosniff"
    # Many small headers count together; ordinary ones pass.
    many = {f"x-part-{n}": "b" * 100 for n in range(limit // 100)}
    assert (await http.get("/healthz", headers=many)).status_code == 431
    assert (await http.get("/healthz", headers={"cookie": "c" * 8000})).status_code == 200
    async with serve(max_header_bytes=4 * limit) as roomy:
        assert (await roomy.get("/healthz", headers={"x-big": "a" * (limit + 1)})
                ).status_code == 200
