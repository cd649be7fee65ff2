"""Rate limits per account (or email address) and per IP, through the `limits` library: sign-in
attempts and every other check of an account's password (they share one budget), requests
that send mail (verification and password-reset links) and invitation mails (per organization,
per inviter and per recipient address), custom-domain checks per organization, AI feature
calls per person and the proxy's TLS questions (`/internal/tls-ask`) per IP.

The counters live in Redis when `REDIS_URL` is set, so every server process shares them, and in
process memory otherwise (the embedded default). A refused attempt says when to retry.
"""

from __future__ import annotations

import math
import time
from typing import cast

from limits import RateLimitItem, parse
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from core.errors import RateLimited
from core.settings import Settings, limits_storage_uri

# Mail-sending requests (verification, password reset): enough for a person who lost a mail or two,
# too few to flood someone's inbox or to send mail from us in bulk.
MAIL_RATE_PER_ADDRESS = "5/hour"
MAIL_RATE_PER_IP = "20/hour"


class LoginLimiter:
    def __init__(self, settings: Settings) -> None:
        uri = limits_storage_uri(settings.redis_url)
        self.storage = cast(Storage, storage_from_string(uri))  # async+ URIs: asyncio storages
        self._limiter = MovingWindowRateLimiter(self.storage)
        self._per_account: RateLimitItem = parse(settings.login_rate_per_account)
        self._per_ip: RateLimitItem = parse(settings.login_rate_per_ip)
        self._mail_per_address: RateLimitItem = parse(MAIL_RATE_PER_ADDRESS)
        self._mail_per_ip: RateLimitItem = parse(MAIL_RATE_PER_IP)
        self._oauth_per_ip: RateLimitItem = parse(settings.oauth_rate_per_ip)
        self._signup_per_ip: RateLimitItem = parse(settings.signup_rate_per_ip)
        self._invite_per_org: RateLimitItem = parse(settings.invite_rate_per_org)
        self._invite_per_inviter: RateLimitItem = parse(settings.invite_rate_per_inviter)
        self._invite_per_address: RateLimitItem = parse(settings.invite_rate_per_address)
        self._domain_checks: RateLimitItem = parse(settings.custom_domain_check_rate)
        self._webhook_replays: RateLimitItem = parse(settings.webhook_replay_rate)
        self._webhook_redeliveries: RateLimitItem = parse(settings.webhook_redeliver_rate)
        self._tls_ask_per_ip: RateLimitItem = parse(settings.tls_ask_rate_per_ip)
        self._ai_per_user: RateLimitItem = parse(settings.ai_rate_per_user)
        self._client_events: RateLimitItem = parse(settings.client_events_rate_per_session)
        self._key_rotations: RateLimitItem = parse(settings.key_rotation_rate)
        self._support_tickets: RateLimitItem = parse(settings.support_ticket_rate_per_user)

    async def hit(self, *, email: str, ip: str) -> None:
        """Count one attempt; raise RATE_LIMITED when either budget is spent."""
        await self._hit_all(self._password_budgets(email, ip), "Too many sign-in attempts.")

    async def hit_password_check(self, *, email: str, ip: str) -> None:
        """Count one check of the password of the account signed in as `email` (the current
        password that `changePassword` or `deleteAccount` asks for); raise RATE_LIMITED when
        either budget is spent. Call it before verifying, so a refused guess never reaches
        argon2. These checks spend the sign-in budgets themselves: whoever holds a stolen access
        token gets no more guesses at the password than someone at the sign-in form."""
        await self._hit_all(self._password_budgets(email, ip),
                            "Too many password attempts.")

    def _password_budgets(self, email: str, ip: str) -> tuple[tuple[RateLimitItem, str], ...]:
        return ((self._per_account, f"login:account:{email}"), (self._per_ip, f"login:ip:{ip}"))

    async def hit_mail(self, *, action: str, email: str, ip: str) -> None:
        """Count one request that mails `email` (`action` names the kind, e.g. `reset_password`);
        raise RATE_LIMITED when either budget is spent. Unknown addresses count like known ones,
        so the limit cannot tell which addresses have an account."""
        await self._hit_all(((self._mail_per_address, f"mail:{action}:address:{email}"),
                             (self._mail_per_ip, f"mail:{action}:ip:{ip}")),
                            "Too many emails requested.")

    async def hit_oauth(self, *, endpoint: str, ip: str) -> None:
        """Count one request to an OAuth endpoint (`authorize`, `token`, `revoke`) from `ip`;
        raise RATE_LIMITED when its budget is spent. Client secrets and codes are long random
        strings, so this limits load and noise rather than guessing."""
        await self._hit_all(((self._oauth_per_ip, f"oauth:{endpoint}:ip:{ip}"),),
                            "Too many OAuth requests.")

    async def hit_sign_up(self, *, ip: str) -> None:
        """Count one `signUp` from `ip` (`SIGNUP_RATE_PER_IP`), whatever comes of it; raise
        RATE_LIMITED when the budget is spent. The address it mails then counts against the mail
        budget of that address (`hit_sign_up_mail`)."""
        await self._hit_all(((self._signup_per_ip, f"signup:ip:{ip}"),),
                            "Too many sign-ups from this network.")

    async def hit_sign_up_mail(self, *, email: str) -> None:
        """Count one sign-up mail to `email`, confirmation link or notice to the owner alike
        (so the limit tells nothing about accounts); raise RATE_LIMITED past
        MAIL_RATE_PER_ADDRESS: nobody can flood an inbox with sign-up mail."""
        await self._hit_all(((self._mail_per_address, f"mail:sign_up:address:{email}"),),
                            "Too many emails requested.")

    async def hit_invitation(self, *, org_id: object, inviter_id: object, email: str) -> None:
        """Count one invitation mail (`inviteMember` or `resendInvitation`) against the budgets
        of the organization, of the person sending it (across their organizations) and of the
        recipient address (across all organizations); raise RATE_LIMITED, with the `reason`
        naming the budget that is spent, when any is. All three are tested before any is
        counted, so a refused invitation spends none; call it before writing the invitation and
        before mailing it."""
        budgets = (
            (self._invite_per_org, f"invite:org:{org_id}", "INVITATIONS_PER_ORGANIZATION",
             "Too many invitations sent from this organization"),
            (self._invite_per_inviter, f"invite:inviter:{inviter_id}", "INVITATIONS_PER_INVITER",
             "You have sent too many invitations"),
            (self._invite_per_address, f"invite:address:{email}", "INVITATIONS_PER_ADDRESS",
             "Too many invitations sent to this address, by all organizations together"),
        )
        for item, key, reason, what in budgets:
            if not await self._limiter.test(item, key):
                raise await self._refusal(item, key, f"{what} (at most {_rate(item)}).",
                                          reason=reason)
        for item, key, reason, what in budgets:
            if not await self._limiter.hit(item, key):  # spent meanwhile by a concurrent one
                raise await self._refusal(item, key, f"{what} (at most {_rate(item)}).",
                                          reason=reason)

    async def hit_domain_check(self, *, org_id: object) -> None:
        """Count one `checkCustomDomain` of the organization (`CUSTOM_DOMAIN_CHECK_RATE`):
        each makes us ask DNS, at names the tenant chose; raise RATE_LIMITED (reason
        `DOMAIN_CHECKS`) when the budget is spent, before any lookup."""
        key = f"domain-check:org:{org_id}"
        if not await self._limiter.hit(self._domain_checks, key):
            raise await self._refusal(
                self._domain_checks, key,
                f"Too many domain checks (at most {_rate(self._domain_checks)} per "
                "organization); scheduled checks go on meanwhile.", reason="DOMAIN_CHECKS")

    async def hit_key_rotation(self, *, org_id: object) -> None:
        """Count one `rotateOrganizationKey` of the organization (`KEY_ROTATION_RATE`): each
        makes a key and re-encrypts all the org's data; RATE_LIMITED (reason
        `KEY_ROTATIONS`), before any key is made."""
        key = f"key-rotation:org:{org_id}"
        if not await self._limiter.hit(self._key_rotations, key):
            raise await self._refusal(
                self._key_rotations, key,
                f"Too many key rotations (at most {_rate(self._key_rotations)} per "
                "organization).", reason="KEY_ROTATIONS")

    async def hit_webhook_replay(self, *, org_id: object) -> None:
        """Count one `replayWebhookMessages` of the organization (`WEBHOOK_REPLAY_RATE`): each
        may queue up to a thousand deliveries; RATE_LIMITED (reason `WEBHOOK_REPLAYS`)."""
        key = f"webhook-replay:org:{org_id}"
        if not await self._limiter.hit(self._webhook_replays, key):
            raise await self._refusal(
                self._webhook_replays, key,
                f"Too many replays (at most {_rate(self._webhook_replays)} per organization).",
                reason="WEBHOOK_REPLAYS")

    async def hit_webhook_redeliver(self, *, org_id: object) -> None:
        """Count one `redeliverWebhookMessage` of the organization (`WEBHOOK_REDELIVER_RATE`):
        each sends a request to a tenant's server at once; RATE_LIMITED (reason
        `WEBHOOK_REDELIVERIES`)."""
        key = f"webhook-redeliver:org:{org_id}"
        if not await self._limiter.hit(self._webhook_redeliveries, key):
            raise await self._refusal(
                self._webhook_redeliveries, key,
                f"Too many redeliveries (at most {_rate(self._webhook_redeliveries)} per "
                "organization).", reason="WEBHOOK_REDELIVERIES")
    async def hit_ai(self, *, user_id: object) -> None:
        """Count one AI feature call by a person (`AI_RATE_PER_USER`, across organizations);
        RATE_LIMITED (reason `AI_CALLS`) when the budget is spent, before anything is sent."""
        key = f"ai:user:{user_id}"
        if not await self._limiter.hit(self._ai_per_user, key):
            raise await self._refusal(
                self._ai_per_user, key,
                f"Too many AI requests (at most {_rate(self._ai_per_user)} per person).",
                reason="AI_CALLS")

    async def hit_client_events(self, *, session_id: object) -> None:
        """Count one `recordClientEvents` of a signed-in session
        (`CLIENT_EVENTS_RATE_PER_SESSION`); RATE_LIMITED (reason `CLIENT_EVENTS`) when spent."""
        key = f"client-events:session:{session_id}"
        if not await self._limiter.hit(self._client_events, key):
            raise await self._refusal(
                self._client_events, key,
                f"Too many client event reports (at most {_rate(self._client_events)} per "
                "session).", reason="CLIENT_EVENTS")

    async def hit_support_ticket(self, *, user_id: object) -> None:
        """Count one `openSupportTicket` by a person (`SUPPORT_TICKET_RATE_PER_USER`);
        RATE_LIMITED (reason `SUPPORT_TICKETS`) when the budget is spent, before anything is
        written or mailed."""
        key = f"support-ticket:user:{user_id}"
        if not await self._limiter.hit(self._support_tickets, key):
            raise await self._refusal(
                self._support_tickets, key,
                f"Too many support tickets (at most {_rate(self._support_tickets)} per "
                "person): write in an open one instead.", reason="SUPPORT_TICKETS")

    async def allow_tls_ask(self, *, ip: str) -> bool:
        """Count one `/internal/tls-ask` from `ip` (`TLS_ASK_RATE_PER_IP`); False when spent."""
        return await self._limiter.hit(self._tls_ask_per_ip, f"tls-ask:ip:{ip}")

    async def _refusal(self, item: RateLimitItem, key: str, what: str,
                       **extensions: str) -> RateLimited:
        stats = await self._limiter.get_window_stats(item, key)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        return RateLimited(f"{what} Try again in {retry_after} seconds.",
                           retry_after=retry_after, **extensions)

    async def _hit_all(self, checks: tuple[tuple[RateLimitItem, str], ...], what: str) -> None:
        for item, key in checks:
            if not await self._limiter.hit(item, key):
                raise await self._refusal(item, key, what)

    async def reset(self) -> None:
        await self.storage.reset()


def _rate(item: RateLimitItem) -> str:
    """`50 per hour`, `3 per day`, `10 per 5 minutes`."""
    unit = item.GRANULARITY.name
    if item.multiples == 1:
        return f"{item.amount} per {unit}"
    return f"{item.amount} per {item.multiples} {unit}s"
