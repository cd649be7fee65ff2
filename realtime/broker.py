"""One broker interface for events between server processes: in-process by default, Redis
pub/sub when `REDIS_URL` is set.

    broker = build_broker(settings)
    await broker.start()
    async with broker.subscribe(["org:<uuid>"]) as events:
        async for message in events:  # dicts, in the order they were published
            ...
    await broker.publish(["org:<uuid>"], {"action": "lead.created", ...})

Every process keeps one `Hub` that fans a message out to its local subscribers. The in-process
broker hands published messages straight to the hub; the Redis broker publishes on a channel per
topic (prefixed with `REALTIME_CHANNEL_PREFIX`) and one pub/sub connection per process feeds
the hub, subscribed to the topics its local subscribers follow. A subscriber has a bounded
buffer: the hub never waits for anyone, so a slow subscriber cannot hold up the others or the
mutation that published; when its buffer is full its stream ends with `Overflow`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Iterable
from typing import Any

import orjson
import structlog
from redis.asyncio import Redis
from redis.asyncio.client import PubSub

log = structlog.get_logger("relleks.realtime")


class Overflow(Exception):
    """A subscriber fell `buffer` events behind: its stream ends rather than hold the others."""


class Subscriber:
    """One stream's queue: bounded, filled by the hub without waiting, read by the stream."""

    def __init__(self, topics: frozenset[str], buffer: int) -> None:
        self.topics = topics
        self.buffer = buffer
        self._queue: deque[dict[str, Any]] = deque()
        self._ready = asyncio.Event()
        self.overflowed = False
        self.taken = 0
        """Messages handed to the stream so far (the number of the one it is handling)."""

    def offer(self, message: dict[str, Any]) -> None:
        """Queue `message`, or mark the stream as overflowed; never blocks."""
        if self.overflowed:
            return
        if len(self._queue) >= self.buffer:
            self.overflowed = True
            self._queue.clear()
        else:
            self._queue.append(message)
        self._ready.set()

    @property
    def queued_through(self) -> int:
        """The number of the last message queued (taken or still waiting)."""
        return self.taken + len(self._queue)

    def __aiter__(self) -> Subscriber:
        return self

    async def __anext__(self) -> dict[str, Any]:
        while not self._queue:
            if self.overflowed:
                raise Overflow(f"More than {self.buffer} events were waiting for this "
                               "subscription: it reads too slowly and has been ended. "
                               "Subscribe again, and refetch what you show.")
            self._ready.clear()
            await self._ready.wait()
        if self.overflowed:
            raise Overflow(f"More than {self.buffer} events were waiting for this subscription: "
                           "it reads too slowly and has been ended. Subscribe again, and "
                           "refetch what you show.")
        self.taken += 1
        return self._queue.popleft()


class Hub:
    """This process's subscribers by topic."""

    def __init__(self) -> None:
        self._by_topic: dict[str, set[Subscriber]] = {}

    def add(self, subscriber: Subscriber) -> list[str]:
        """Register `subscriber`; returns the topics nobody here followed before."""
        new = [t for t in subscriber.topics if t not in self._by_topic]
        for topic in subscriber.topics:
            self._by_topic.setdefault(topic, set()).add(subscriber)
        return new

    def remove(self, subscriber: Subscriber) -> list[str]:
        """Unregister `subscriber`; returns the topics nobody here follows any more."""
        gone = []
        for topic in subscriber.topics:
            followers = self._by_topic.get(topic)
            if followers is None:
                continue
            followers.discard(subscriber)
            if not followers:
                del self._by_topic[topic]
                gone.append(topic)
        return gone

    def dispatch(self, topic: str, message: dict[str, Any]) -> None:
        for subscriber in list(self._by_topic.get(topic, ())):
            subscriber.offer(message)

    def count(self, topic: str) -> int:
        return len(self._by_topic.get(topic, ()))


class Broker:
    """In-process broker: what one process publishes reaches that process's subscribers."""

    def __init__(self, buffer: int = 100) -> None:
        self.buffer = buffer
        self.hub = Hub()

    async def start(self) -> None:
        """Connect (nothing to do in process)."""

    async def close(self) -> None:
        """Disconnect (nothing to do in process)."""

    async def publish(self, topics: Iterable[str], message: dict[str, Any]) -> None:
        for topic in topics:
            self.hub.dispatch(topic, message)

    @contextlib.asynccontextmanager
    async def subscribe(self, topics: Iterable[str]) -> AsyncIterator[Subscriber]:
        subscriber = Subscriber(frozenset(topics), self.buffer)
        new = self.hub.add(subscriber)
        try:
            await self._follow(new)
            yield subscriber
        finally:
            gone = self.hub.remove(subscriber)
            await self._unfollow(gone)

    async def _follow(self, topics: list[str]) -> None:
        """Start receiving `topics` from elsewhere (nothing to do in process)."""

    async def _unfollow(self, topics: list[str]) -> None:
        """Stop receiving `topics` from elsewhere (nothing to do in process)."""


class RedisBroker(Broker):
    """Redis pub/sub: one channel per topic, one subscribing connection per process.

    Publishing costs one PUBLISH per topic; the message reaches the local subscribers through
    Redis like everyone else's, so every process sees every topic's messages in one order."""

    def __init__(self, url: str, *, prefix: str, buffer: int = 100) -> None:
        super().__init__(buffer)
        self.url = url
        self.prefix = prefix
        self._redis: Redis | None = None
        self._pubsub: PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        self._redis = Redis.from_url(self.url)
        self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        # A first channel opens the connection, so the reader always has one to read.
        await self._pubsub.subscribe(f"{self.prefix}control")
        self._reader = asyncio.create_task(self._read())

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()
        if self._redis is not None:
            await self._redis.aclose()

    async def publish(self, topics: Iterable[str], message: dict[str, Any]) -> None:
        assert self._redis is not None, "start() the broker first"
        data = orjson.dumps(message)
        async with self._redis.pipeline(transaction=False) as pipe:
            for topic in topics:
                pipe.publish(self.prefix + topic, data)
            await pipe.execute()

    async def _follow(self, topics: list[str]) -> None:
        if topics:
            assert self._pubsub is not None, "start() the broker first"
            async with self._lock:
                await self._pubsub.subscribe(*(self.prefix + t for t in topics))

    async def _unfollow(self, topics: list[str]) -> None:
        if topics and self._pubsub is not None:
            async with self._lock:
                # A subscriber may have come back for the topic meanwhile.
                still_gone = [t for t in topics if not self.hub.count(t)]
                if still_gone:
                    await self._pubsub.unsubscribe(*(self.prefix + t for t in still_gone))

    async def _read(self) -> None:
        assert self._pubsub is not None
        skip = len(self.prefix)
        while True:
            try:
                message = await self._pubsub.get_message(timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception:  # a lost connection: redis-py reconnects and resubscribes
                log.exception("realtime.redis_read_failed")
                await asyncio.sleep(0.5)
                continue
            if message is None or message.get("type") != "message":
                continue
            channel = message["channel"]
            topic = (channel.decode() if isinstance(channel, bytes) else channel)[skip:]
            try:
                data = orjson.loads(message["data"])
            except orjson.JSONDecodeError:
                log.warning("realtime.bad_message", channel=topic)
                continue
            self.hub.dispatch(topic, data)


def build_broker(redis_url: str | None, *, prefix: str, buffer: int) -> Broker:
    """Redis pub/sub when `redis_url` is set, so processes share events; in process otherwise."""
    if redis_url:
        return RedisBroker(redis_url, prefix=prefix, buffer=buffer)
    return Broker(buffer)
