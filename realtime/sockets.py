"""Open WebSockets counted per key (a client IP, a credential), so that `web/graphql_ws.py` can
cap them: `WS_MAX_SOCKETS_PER_IP` from the handshake, `WS_MAX_SOCKETS_PER_CREDENTIAL` once
`connection_init` has said whose socket it is.

    sockets = build_sockets(settings)
    if await sockets.claim("ip:203.0.113.9", socket_id, limit):   # False: over the cap
        ...                                      # while open: renew(keys) every lease / 3
        await sockets.release(keys, socket_id)   # when closed

With `REDIS_URL` every process counts in one sorted set per key (members: socket ids, scores:
when their lease ends, on Redis's clock), so the cap holds across processes; a socket's lease
(`WS_SOCKET_LEASE_SECONDS`) is renewed while it lives, so the places held by a process that died
without releasing them come back once their leases end. Without Redis, counts live in memory.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Awaitable, Sequence
from typing import Protocol, cast

from redis.asyncio import Redis

from core.settings import Settings

# Drop lapsed places, then take one if there is room (a socket already counted keeps its place).
CLAIM = """
local time = redis.call('TIME')
local now = tonumber(time[1]) + tonumber(time[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if not redis.call('ZSCORE', KEYS[1], ARGV[1])
        and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
    return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
"""

RENEW = """
local time = redis.call('TIME')
local now = tonumber(time[1]) + tonumber(time[2]) / 1000000
for _, key in ipairs(KEYS) do
    redis.call('ZADD', key, now + tonumber(ARGV[2]), ARGV[1])
    redis.call('EXPIRE', key, ARGV[3])
end
return 1
"""


class Sockets(Protocol):
    @property
    def lease(self) -> float | None:
        """Seconds a place lasts unless renewed; None: places last until released."""

    async def claim(self, key: str, socket_id: str, limit: int) -> bool: ...

    async def renew(self, keys: Sequence[str], socket_id: str) -> None: ...

    async def release(self, keys: Sequence[str], socket_id: str) -> None: ...

    async def close(self) -> None: ...


class MemorySockets:
    """This process's open sockets by key."""

    lease: float | None = None

    def __init__(self) -> None:
        self._open: defaultdict[str, set[str]] = defaultdict(set)

    async def claim(self, key: str, socket_id: str, limit: int) -> bool:
        members = self._open[key]
        if socket_id not in members and len(members) >= limit:
            return False
        members.add(socket_id)
        return True

    async def renew(self, keys: Sequence[str], socket_id: str) -> None:
        pass

    async def release(self, keys: Sequence[str], socket_id: str) -> None:
        for key in keys:
            members = self._open.get(key)
            if members is not None:
                members.discard(socket_id)
                if not members:
                    del self._open[key]

    async def close(self) -> None:
        pass


class RedisSockets:
    """Open sockets of every process, in Redis sorted sets under `prefix`."""

    def __init__(self, url: str, prefix: str, lease: float) -> None:
        self.redis = Redis.from_url(url)
        self.prefix = prefix
        self.lease = lease
        self._expire = str(math.ceil(lease) + 1)  # a key with no living socket goes too

    async def claim(self, key: str, socket_id: str, limit: int) -> bool:
        claimed = await cast("Awaitable[object]", self.redis.eval(  # typed for sync clients too
            CLAIM, 1, self.prefix + key, socket_id, str(limit), str(self.lease), self._expire))
        return bool(claimed)

    async def renew(self, keys: Sequence[str], socket_id: str) -> None:
        if keys:
            await cast("Awaitable[object]", self.redis.eval(
                RENEW, len(keys), *(self.prefix + key for key in keys), socket_id,
                str(self.lease), self._expire))

    async def release(self, keys: Sequence[str], socket_id: str) -> None:
        if keys:
            async with self.redis.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.zrem(self.prefix + key, socket_id)
                await pipe.execute()

    async def close(self) -> None:
        await self.redis.aclose()


def build_sockets(settings: Settings) -> Sockets:
    if settings.redis_url:
        return RedisSockets(settings.redis_url, f"{settings.realtime_channel_prefix}ws:",
                            settings.ws_socket_lease)
    return MemorySockets()
