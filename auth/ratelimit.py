"""Login rate limits per account and per IP, through the `limits` library.

The counters live in Redis when `REDIS_URL` is set, so every server process shares them, and in
process memory otherwise (the embedded default). A refused attempt says when to retry.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from errors import RateLimited
from settings import Settings


class LoginLimiter:
    def __init__(self, settings: Settings) -> None:
        uri = settings.redis_url.replace("redis://", "async+redis://", 1) if settings.redis_url \
            else "async+memory://"
        self.storage: Storage = storage_from_string(uri)
        self._limiter = MovingWindowRateLimiter(self.storage)
        self._per_account: RateLimitItem = parse(settings.login_rate_per_account)
        self._per_ip: RateLimitItem = parse(settings.login_rate_per_ip)

    async def hit(self, *, email: str, ip: str) -> None:
        """Count one attempt; raise RATE_LIMITED when either budget is spent."""
        for item, key in ((self._per_account, f"login:account:{email}"),
                          (self._per_ip, f"login:ip:{ip}")):
            if not await self._limiter.hit(item, key):
                stats = await self._limiter.get_window_stats(item, key)
                retry_after = max(1, math.ceil(stats.reset_time - time.time()))
                raise RateLimited(
                    f"Too many sign-in attempts. Try again in {retry_after} seconds.",
                    retry_after=retry_after,
                )

    async def reset(self) -> None:
        await self.storage.reset()
