"""Long-lived collaborators shared by every request: built once in the app's lifespan."""

from __future__ import annotations

from dataclasses import dataclass

from auth.ratelimit import LoginLimiter
from auth.social import SocialProviders
from billing.gateway import StripeGateway
from core.settings import Settings
from engine.cursors import CursorSeal
from jobs.app import Jobs
from mail import Mailer
from realtime.broker import Broker, build_broker
from realtime.sockets import Sockets, build_sockets
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
    """Seals keyset cursors (one cipher object per process: `engine/cursors.py`)."""

    @classmethod
    def build(cls, settings: Settings) -> Services:
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
        )
        services.jobs.services = services  # tasks reach the mailer, storage and Stripe
        return services
