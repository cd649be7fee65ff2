"""Long-lived collaborators shared by every request, and the clients of what we call out to.

`Services` (here) is built once per app by the composition root (`server.py`, or
`jobs/worker.py` for a worker process). Beside it: the job queue (`queue`), the Stripe client
(`stripe`, `stripe_errors`), the keyset cursor seal (`cursors`), the query budgets' counters
(`budgets`), DNS lookups (`dns`) and HTTP requests to tenants' URLs that cannot reach our own
network (`outbound`: functions taking the settings and `Services.dns`, no state of its own).

Layer: below the engine and the domains, above `loaders` and everything under it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from auth.ratelimit import LoginLimiter
from auth.social import SocialProviders
from core.settings import Settings
from mail import Mailer
from realtime.broker import Broker, build_broker
from realtime.sockets import Sockets, build_sockets
from services.ai import AiProvider, provider_from_settings
from services.budgets import QueryBudgets
from services.cursors import CursorSeal
from services.dns import Dns
from services.queue import Jobs
from services.stripe import StripeGateway
from services.usage import UsageRecorder
from storage import Storage, build_storage


@dataclass
class Services:
    settings: Settings
    limiter: LoginLimiter
    mailer: Mailer
    storage: Storage
    stripe: StripeGateway
    social: SocialProviders
    jobs: Jobs
    broker: Broker
    """Carries committed changes to subscriptions, across processes with Redis (`realtime/`)."""
    sockets: Sockets
    """Counts open WebSockets per IP and credential, across processes with Redis."""
    cursors: CursorSeal
    """Seals keyset cursors (one cipher object per process: `services/cursors.py`)."""
    cost_budgets: QueryBudgets
    """Every caller's query budget (`billing/budgets.py`), spent by `engine/cost.py`."""
    dns: Dns
    """Asks DNS what the custom-domain checks need (`services/dns.py`)."""
    usage: UsageRecorder
    """Counts requests for the usage analytics, flushed every few seconds (`services/usage.py`)."""
    ai: AiProvider | None = None
    """Answers the AI features (`services/ai/`): None in production without a provider."""
    ai_runs: set[asyncio.Task[None]] = field(default_factory=set)
    """AI generations streaming in this process (`resolvers/ai.py`), awaited at shutdown."""

    @classmethod
    def build(cls, settings: Settings, *,
              cost_budgets: Callable[[Settings], QueryBudgets]) -> Services:
        """Everything for one app. The composition root (`server.py`, `jobs/worker.py`) passes
        what lives above this package (the budgets' pricing is billing's) and then registers
        the job tasks (`jobs.tasks.register`)."""
        services = cls(
            settings=settings,
            limiter=LoginLimiter(settings),
            mailer=Mailer(settings),
            storage=build_storage(settings),
            stripe=StripeGateway(settings),
            social=SocialProviders(settings),
            jobs=Jobs(settings),
            broker=build_broker(settings.redis_url, prefix=settings.realtime_channel_prefix,
                                buffer=settings.realtime_buffer),
            sockets=build_sockets(settings),
            cursors=CursorSeal(settings.secret_key),
            cost_budgets=cost_budgets(settings),
            dns=Dns(settings),
            usage=UsageRecorder(settings),
            ai=provider_from_settings(settings),
        )
        return services
