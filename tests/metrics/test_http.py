"""Metrics over HTTP: what a request counts, what a scrape shows and who may scrape."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import httpx

from core.settings import Settings
from observability.exposition import Backlog, start_listener, stop_listener
from server import create_app
from tests.conftest import Api, count_sql
from tests.metrics.conftest import METRICS_TOKEN, parse, scrape, value
from tests.smtp import free_port

REQUESTS = "relleks_graphql_requests_total"
LATENCY = "relleks_graphql_request_duration_seconds_count"
ERRORS = "relleks_graphql_errors_total"


async def test_requests_latency_and_errors_are_counted(api: Api, http: httpx.AsyncClient) -> None:
    before = await scrape(http)
    with count_sql() as sql:
        for _ in range(2):
            assert (await api.gql("query Ping { __typename }"))["data"] == {"__typename": "Query"}
    assert sql.count == 0  # counting a request runs no statement
    await api.gql("{ __typename }")
    await api.gql(f"query {'L' * 70} {{ __typename }}")
    broken = await api.gql("query Broken { nope }")
    code = broken["errors"][0]["extensions"]["code"]
    after = await scrape(http)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved(REQUESTS, operation="Ping", type="query") == 2
    assert moved(LATENCY, operation="Ping", type="query") == 2
    assert moved("relleks_graphql_request_duration_seconds_sum", operation="Ping",
                 type="query") > 0
    # Anonymous operations and names that are too long share `other`; the name itself never
    # becomes a label.
    assert moved(REQUESTS, operation="other", type="query") == 2
    assert not any("L" * 70 in str(labels) for _, labels in after)
    # A document that fails validation still has its name and type.
    assert moved(REQUESTS, operation="Broken", type="query") == 1
    assert moved(ERRORS, code=code) == 1


async def test_cost_and_database_pool(api: Api, http: httpx.AsyncClient,
                                      settings: Settings) -> None:
    engine = "postgresql" if settings.database_url.startswith("postgres") else "sqlite"
    before = await scrape(http)
    auth = await api.sign_up()
    me = await api.gql("query Me { me { id email } }", token=auth["accessToken"])
    assert me["data"]["me"]["email"] == "ada@example.com"
    spent = api.last_cost
    assert spent is not None and spent["requested"] > 0
    after = await scrape(http)
    cost = value(after, "relleks_graphql_cost_total", type="query") - \
        value(before, "relleks_graphql_cost_total", type="query")
    assert cost >= spent["requested"]
    taken = value(after, "relleks_db_pool_acquire_seconds_count", engine=engine) - \
        value(before, "relleks_db_pool_acquire_seconds_count", engine=engine)
    assert taken > 0
    # Nothing is held between requests.
    assert value(after, "relleks_db_connections_in_use", engine=engine) == 0


async def test_no_personal_data_in_labels(api: Api, http: httpx.AsyncClient) -> None:
    auth = await api.sign_up(email="grace.hopper@example.com", name="Grace Hopper")
    await api.gql("query Me { me { id } }", token=auth["accessToken"])
    response = await http.get("/metrics", headers={"authorization": f"Bearer {METRICS_TOKEN}"})
    text = response.text
    for personal in ("grace", "Hopper", auth["user"]["id"], auth["accessToken"]):
        assert personal not in text


async def test_scrape_needs_the_token(http: httpx.AsyncClient, settings: Settings) -> None:
    missing = await http.get("/metrics")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    wrong = await http.get("/metrics", headers={"authorization": f"Bearer {METRICS_TOKEN}x"})
    assert wrong.status_code == 401
    assert "relleks_" not in wrong.text
    # Without METRICS_TOKEN the API port has no /metrics at all.
    app = create_app(dataclasses.replace(settings, metrics_token=None), manage_database=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        absent = await client.get("/metrics",
                                  headers={"authorization": f"Bearer {METRICS_TOKEN}"})
    assert absent.status_code == 404
    assert "relleks_" not in absent.text


async def test_queue_depth_and_age(app: Any, http: httpx.AsyncClient) -> None:
    jobs = app.state.services.jobs
    assert await jobs.defer(uuid.uuid4())  # a job nobody runs here: it waits in the queue
    samples = await scrape(http)
    assert value(samples, "relleks_job_queue_depth", kind="relleks.run_work") >= 1
    assert value(samples, "relleks_job_queue_oldest_seconds", kind="relleks.run_work") >= 0
    assert value(samples, "relleks_job_queue_read_ok") == 1


async def test_backlog_is_read_at_most_once_per_interval(app: Any) -> None:
    reads = 0
    real = app.state.services.jobs.backlog

    async def counted() -> list[tuple[str, int, float]]:
        nonlocal reads
        reads += 1
        return await real()

    backlog = Backlog(counted, interval=60)
    for _ in range(3):
        await backlog.families()
    assert reads == 1


async def test_separate_listener(app: Any, http: httpx.AsyncClient) -> None:
    """The listener of its own answers without a token; a second process finding the port
    taken carries on without one."""
    port = free_port()
    backlog = Backlog(app.state.services.jobs.backlog)
    server = await start_listener("127.0.0.1", port, backlog)
    assert server is not None
    try:
        assert await start_listener("127.0.0.1", port, backlog) is None
        await http.post("/graphql", json={"query": "query Ping { __typename }"})
        async with httpx.AsyncClient() as client:
            response = await client.get(f"http://127.0.0.1:{port}/metrics")
            other = await client.get(f"http://127.0.0.1:{port}/")
        assert response.status_code == 200
        samples = parse(response.text)
        assert value(samples, REQUESTS, operation="Ping", type="query") >= 1
        assert other.status_code == 404
    finally:
        await stop_listener(server)
