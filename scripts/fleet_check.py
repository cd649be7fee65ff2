"""Check a running `make serve` end to end, as clients would: `python -m scripts.fleet_check`
(`make serve-check`).

1. sign up (the confirmation link is read from the API's log, where mail goes without
   SMTP_URL), confirm, log in again;
2. create an organization and leads, read them back (each write its own transaction, through
   PgBouncer in transaction pooling mode);
3. subscribe to the organization's lead events on several WebSockets (spread over the API
   processes by the kernel) and create leads over fresh connections: every socket gets every
   event, whichever process committed it (Redis carries them);
4. ask for a data export and wait until a job worker (a process of its own) has built it.

It prints what it did and exits 1 at the first thing that does not work. `PORT` (8000) and
`FLEET_DIR` (var/fleet) say where the fleet is.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import secrets
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
from redis.asyncio import Redis
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "plum-orbit-canvas-87-tide"
SOCKETS = 4
LEADS = 6

SIGN_UP = """mutation($input: SignUpInput!) { signUp(input: $input) { email } }"""
CONFIRM = """mutation($input: ConfirmSignUpInput!) {
  confirmSignUp(input: $input) { accessToken user { id } } }"""
LOG_IN = """mutation($input: LogInInput!) { logIn(input: $input) { accessToken } }"""
CREATE_ORG = """mutation($input: CreateOrganizationInput!) {
  createOrganization(input: $input) { organization { id } } }"""
CREATE_LEAD = """mutation($input: CreateLeadInput!) { createLead(input: $input) { lead { id } } }"""
LEADS_QUERY = """query($id: ID!) { node(id: $id) { ... on Organization {
  leads(first: 50) { totalCount edges { node { id name } } } } } }"""
EVENTS = """subscription($org: ID!) { leadEvents(organizationId: $org) { type leadId } }"""
EXPORT = """mutation { requestDataExport { dataExport { id status } } }"""
EXPORTS = """{ me { dataExports(first: 5) { edges { node { id status } } } } }"""


class CheckFailed(Exception):
    pass


async def gql(url: str, query: str, variables: dict[str, Any] | None = None,
              token: str | None = None) -> dict[str, Any]:
    """One request on a connection of its own (so requests spread over the processes)."""
    headers = {"authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(f"{url}/graphql", headers=headers,
                                     json={"query": query, "variables": variables or {}})
    body = response.json()
    if response.status_code != 200 or body.get("errors"):
        raise CheckFailed(f"{query.split('(')[0].split('{')[0].strip() or query[:40]}: "
                          f"{response.status_code} {body}")
    return body["data"]


def mailed_token(log: Path, address: str, page: str) -> str:
    text = log.read_text(errors="replace")
    at = text.rfind(f"To: {address}")
    match = re.search(rf"/{page}\?token=([\w\-.~%]+)", text[at:]) if at >= 0 else None
    if not match:
        raise CheckFailed(f"no {page} link mailed to {address} in {log}")
    return match.group(1)


async def subscriber(ws_url: str, token: str, org: str, expected: int,
                     ready: asyncio.Event, seen: list[set[str]]) -> None:
    got: set[str] = set()
    seen.append(got)
    async with connect(ws_url, subprotocols=[Subprotocol("graphql-transport-ws")]) as socket:
        await socket.send(orjson.dumps({"type": "connection_init",
                                        "payload": {"authorization": f"Bearer {token}"}}).decode())
        ack = orjson.loads(await asyncio.wait_for(socket.recv(), 10))
        if ack.get("type") != "connection_ack":
            raise CheckFailed(f"WebSocket: {ack}")
        await socket.send(orjson.dumps({"id": "1", "type": "subscribe", "payload": {
            "query": EVENTS, "variables": {"org": org}}}).decode())
        ready.set()
        while len(got) < expected:
            message = orjson.loads(await asyncio.wait_for(socket.recv(), 20))
            if message.get("type") != "next" or message["payload"].get("errors"):
                raise CheckFailed(f"subscription: {message}")
            got.add(message["payload"]["data"]["leadEvents"]["leadId"])


async def listening_processes(org: str) -> int:
    """How many API processes subscribe to the organization's Redis channel (one connection
    each, `realtime/broker.py`), or 0 when Redis is not the fleet's."""
    org_id = base64.b64decode(org).decode().partition(":")[2]
    prefix = os.environ.get("REALTIME_CHANNEL_PREFIX", "relleks:")
    redis = Redis(port=int(os.environ.get("FLEET_REDIS_PORT", "63800")))
    try:
        counts = dict(await redis.pubsub_numsub(f"{prefix}org:{org_id}"))
    finally:
        await redis.aclose()
    return int(next(iter(counts.values()), 0))


async def check(url: str, log: Path) -> None:
    started = time.monotonic()
    email = f"fleet-check-{secrets.token_hex(4)}@example.com"
    await gql(url, SIGN_UP, {"input": {"email": email, "password": PASSWORD, "name": "Fleet Check",
                                       "birthDate": "1990-05-17", "acceptTerms": True}})
    await asyncio.sleep(0.5)  # the mail is written once the response is out
    token = (await gql(url, CONFIRM, {"input": {"token": mailed_token(
        log, email, "confirm-sign-up")}}))["confirmSignUp"]["accessToken"]
    token = (await gql(url, LOG_IN, {"input": {"email": email, "password": PASSWORD}})
             )["logIn"]["accessToken"]
    print(f"signed up and logged in as {email}")
    slug = f"fleet-{secrets.token_hex(3)}"
    org = (await gql(url, CREATE_ORG, {"input": {"name": f"Fleet {slug}", "slug": slug}},
                     token))["createOrganization"]["organization"]["id"]
    ready: list[asyncio.Event] = [asyncio.Event() for _ in range(SOCKETS)]
    seen: list[set[str]] = []
    ws_url = url.replace("http://", "ws://") + "/graphql"
    listeners = [asyncio.create_task(subscriber(ws_url, token, org, LEADS, event, seen))
                 for event in ready]
    await asyncio.wait_for(asyncio.gather(*(event.wait() for event in ready)), 20)
    await asyncio.sleep(1.0)  # the subscriptions register after their permission check
    processes = await listening_processes(org)
    print(f"{SOCKETS} WebSocket subscribers, on {processes} API process(es)")
    created = await asyncio.gather(*(
        gql(url, CREATE_LEAD, {"input": {"organizationId": org, "name": f"Lead {n}",
                                         "email": f"lead{n}@example.com"}}, token)
        for n in range(LEADS)))
    ids = {one["createLead"]["lead"]["id"] for one in created}
    leads = (await gql(url, LEADS_QUERY, {"id": org}, token))["node"]["leads"]
    if leads["totalCount"] != LEADS:
        raise CheckFailed(f"read back {leads['totalCount']} leads, not {LEADS}")
    print(f"created {LEADS} leads concurrently and read them back")
    await asyncio.wait_for(asyncio.gather(*listeners), 30)
    if any(got != ids for got in seen):
        raise CheckFailed(f"subscribers saw {[len(got) for got in seen]} of {LEADS} events")
    print(f"each subscriber got all {LEADS} events")
    export = (await gql(url, EXPORT, token=token))["requestDataExport"]["dataExport"]
    deadline = time.monotonic() + 60
    while True:
        edges = (await gql(url, EXPORTS, token=token))["me"]["dataExports"]["edges"]
        status = next(edge["node"]["status"] for edge in edges
                      if edge["node"]["id"] == export["id"])
        if status == "DONE":
            break
        if status == "FAILED" or time.monotonic() > deadline:
            raise CheckFailed(f"the data export is {status} (is a job worker running?)")
        await asyncio.sleep(0.5)
    print("a job worker built the data export")
    print(f"fleet check passed in {time.monotonic() - started:.1f} s")


def main() -> int:
    url = f"http://127.0.0.1:{os.environ.get('PORT', '8000')}"
    state = Path(os.environ.get("FLEET_DIR", ROOT / "var" / "fleet"))
    try:
        asyncio.run(check(url, state / "api.log"))
    except (CheckFailed, httpx.HTTPError, TimeoutError, OSError) as exc:
        print(f"fleet check FAILED: {exc!r}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
