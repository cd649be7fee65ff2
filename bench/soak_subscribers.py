"""The soak's subscribers, in a process of their own.

`bench/soak.py`'s load client is CPU-bound (it sends about a hundred GraphQL requests a second
and parses their answers); reading the subscriptions in the same process, at about 30 events a
second per socket, left them behind and the server ended them by its slow-reader bound
(`REALTIME_BUFFER`, `RATE_LIMITED`), as designed for a client that does not keep up. Here they
run in a separate process (multiprocessing, `spawn`) that only reads and counts, and reports back
through a pipe:

    subscribers = SubscriberProcess(url, org_id, tokens)
    await subscribers.start()          # returns once every socket is subscribed
    ...                                # the soak
    report = await subscribers.stop()  # per subscriber: events by type, closed by the server?

Per subscriber it records the events received by type, the events that came with errors
instead of data, and whether the server ended the subscription (an `error` or `complete`
message, or the socket closed from its side) and why; and the delivery delays (now minus the
event's `committedAt`) of all of them together.

`resubscribe=True` makes each subscriber behave as the JavaScript client does when the server
ends a stream: wait a second (the error's `retryAfter`), connect and subscribe again, for as
long as the process runs; `resubscribed` counts how often. The soak's ramp uses it so that the
fan-out of events loads the server at every step of the ramp, not only until the slow-reader
bound ends the subscribers (which made the measured peak one without fan-out).
"""

from __future__ import annotations

import asyncio
import datetime
import multiprocessing
import time
from collections import Counter
from multiprocessing.connection import Connection
from typing import Any

import orjson
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

SUBSCRIBE = """subscription($org: ID!) { leadEvents(organizationId: $org) {
  type committedAt leadId } }"""
START_TIMEOUT_S = 60.0
RETRY_AFTER_S = 1.0
STOP_TIMEOUT_S = 60.0


class Subscriber:
    """One socket's subscription to an organization's `leadEvents`."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.received: Counter[str] = Counter()
        self.closed_by_server: str | None = None
        """Why the server ended it (None: it was still open when the soak stopped it)."""
        self.errors: list[str] = []
        self.ready = asyncio.Event()
        self.resubscribed = 0

    def report(self) -> dict[str, Any]:
        return {"subscriber": self.index, "received": dict(self.received),
                "events": sum(n for kind, n in self.received.items() if kind != "with errors"),
                "closed_by_server": self.closed_by_server, "errors": self.errors[:5],
                "resubscribed": self.resubscribed}

    async def follow(self, ws_url: str, org_id: str, token: str, delays: list[float]) -> None:
        """`run`, then, each time the server ends the subscription, a second's wait and again."""
        while True:
            await self.run(ws_url, org_id, token, delays)
            await asyncio.sleep(RETRY_AFTER_S)
            self.resubscribed += 1
            self.closed_by_server = None

    async def run(self, ws_url: str, org_id: str, token: str, delays: list[float]) -> None:
        try:
            async with connect(ws_url, subprotocols=[Subprotocol("graphql-transport-ws")],
                               max_queue=None) as socket:
                await socket.send(orjson.dumps({"type": "connection_init",
                                                "payload": {"token": token}}).decode())
                ack = orjson.loads(await socket.recv())
                if ack.get("type") != "connection_ack":
                    raise RuntimeError(f"no ack: {str(ack)[:200]}")
                await socket.send(orjson.dumps({"id": "1", "type": "subscribe", "payload": {
                    "query": SUBSCRIBE, "variables": {"org": org_id}}}).decode())
                self.ready.set()
                async for raw in socket:
                    message = orjson.loads(raw)
                    if message.get("type") == "ping":
                        await socket.send('{"type": "pong"}')
                    elif not self.handle(message, delays):
                        return
                self.closed_by_server = "socket closed by the server"
        except asyncio.CancelledError:
            raise
        except ConnectionClosed as closed:
            self.closed_by_server = f"socket closed: {closed.rcvd.code if closed.rcvd else '?'}"
        except Exception as exc:
            self.errors.append(f"{type(exc).__name__}: {exc}"[:300])
            self.closed_by_server = self.closed_by_server or f"failed: {type(exc).__name__}"
        finally:
            self.ready.set()

    def handle(self, message: dict[str, Any], delays: list[float]) -> bool:
        """Count one message; False when the server ended the subscription."""
        kind = message.get("type")
        if kind in {"complete", "error"}:
            self.closed_by_server = f"{kind}: {str(message.get('payload'))[:200]}"
            return False
        if kind != "next":
            self.errors.append(f"unexpected message: {str(message)[:200]}")
            return True
        event = (message["payload"].get("data") or {}).get("leadEvents")
        if not event:
            # An event with errors instead of data: the slow-reader bound's RATE_LIMITED (then
            # `complete`), or a lead already gone. Counted; the subscription may go on.
            self.received["with errors"] += 1
            self.errors.append(str(message["payload"].get("errors"))[:300])
            return True
        self.received[event["type"]] += 1
        committed = datetime.datetime.fromisoformat(event["committedAt"])
        delays.append((time.time() - committed.timestamp()) * 1000)
        return True


async def _serve(url: str, org_id: str, tokens: list[str], resubscribe: bool,
                 pipe: Connection) -> None:
    ws_url = url.replace("http", "ws", 1) + "/graphql"
    subscribers = [Subscriber(n) for n in range(len(tokens))]
    delays: list[float] = []
    tasks = [asyncio.create_task((s.follow if resubscribe else s.run)(
                 ws_url, org_id, token, delays))
             for s, token in zip(subscribers, tokens, strict=True)]
    await asyncio.wait_for(asyncio.gather(*(s.ready.wait() for s in subscribers)),
                           START_TIMEOUT_S)
    pipe.send(("ready", [s.report() for s in subscribers]))
    await asyncio.to_thread(pipe.recv)  # "stop"
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    pipe.send(("result", {"subscribers": [s.report() for s in subscribers],
                          "delays_ms": delays}))


def _main(url: str, org_id: str, tokens: list[str], resubscribe: bool,
          pipe: Connection) -> None:
    asyncio.run(_serve(url, org_id, tokens, resubscribe, pipe))


class SubscriberProcess:
    """The subscribers of `tokens` (one socket each) to `org_id`'s `leadEvents` at `url`, in a
    child process; with `resubscribe`, each subscribes again whenever the server ends it."""

    def __init__(self, url: str, org_id: str, tokens: list[str], *,
                 resubscribe: bool = False) -> None:
        context = multiprocessing.get_context("spawn")
        self.pipe, child = context.Pipe()
        self.process = context.Process(target=_main,
                                       args=(url, org_id, tokens, resubscribe, child),
                                       name="soak-subscribers", daemon=True)

    def _receive(self, timeout: float) -> tuple[str, Any]:
        if not self.pipe.poll(timeout):
            raise RuntimeError(f"the subscriber process said nothing for {timeout:g} s "
                               f"(exit code {self.process.exitcode})")
        message: tuple[str, Any] = self.pipe.recv()
        return message

    async def start(self) -> list[dict[str, Any]]:
        """Start the process; once every socket is subscribed (or failed), their reports."""
        self.process.start()
        kind, reports = await asyncio.to_thread(self._receive, START_TIMEOUT_S)
        assert kind == "ready", kind
        return list(reports)

    async def stop(self) -> dict[str, Any]:
        """Close the subscriptions and return what each received."""
        try:
            self.pipe.send("stop")
            kind, result = await asyncio.to_thread(self._receive, STOP_TIMEOUT_S)
            assert kind == "result", kind
            return dict(result)
        finally:
            self.process.join(10)
            if self.process.is_alive():
                self.process.kill()
                self.process.join()
