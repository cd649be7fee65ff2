"""Error reports to Sentry: unhandled errors of requests and jobs, off unless SENTRY_DSN is set.

    configure_error_reports(settings)      # the composition root (server.py, jobs/worker.py)
    report_exception(exc, request_id=...)  # an INTERNAL error, a failed job, a crashed route

Only what we hand it is sent: the SDK's automatic integrations are off (no request bodies,
headers, cookies, breadcrumbs of log lines or local variables), no personal data is collected
(`data_collection`, which replaces `send_default_pii` in sentry-sdk 2.75; left unset, so off) and
`before_send` applies the one redaction policy (`core/redaction.py`) to the whole event, and
drops the exception's message (a database error can quote the value it refused): an event keeps
the exception's type and stack, the release environment, and the tags `request_id`, `trace_id`,
`where` (request or job) and the job's task name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sentry_sdk

from core.redaction import REDACTED, redact
from core.tracing import current_trace_ids

if TYPE_CHECKING:
    from core.settings import Settings


class _State:
    active = False


_state = _State()


def scrub_event(event: Any, _hint: Any = None) -> Any:
    """Sentry's `before_send`: the redaction policy over the event; exception messages go."""
    for exception in (event.get("exception") or {}).get("values") or []:
        if exception.get("value"):
            exception["value"] = REDACTED
    for frame_holder in (event.get("threads") or {}).get("values") or []:
        frame_holder.pop("stacktrace", None)
    event.pop("request", None)
    event.pop("user", None)
    event.pop("breadcrumbs", None)
    event.pop("extra", None)
    return redact(event)


def _options(settings: Settings) -> dict[str, Any]:
    return {
        "dsn": settings.sentry_dsn or None, "environment": settings.env,
        # `send_default_pii=False`, as sentry-sdk 2.75 spells it (the old option is deprecated):
        # no user, no bodies, no frame variables, no query data.
        "data_collection": {"user_info": False, "http_bodies": [],
                            "stack_frame_variables": False, "database_query_data": False,
                            "queues": False},
        # Nothing automatic: a default or auto-enabled integration would patch Starlette,
        # Strawberry, asyncio and logging for the whole process.
        "default_integrations": False, "auto_enabling_integrations": False, "integrations": [],
        "include_local_variables": False, "max_breadcrumbs": 0, "before_send": scrub_event,
        "max_request_body_size": "never", "traces_sample_rate": None,
    }


def configure_error_reports(settings: Settings) -> bool:
    """Start (or stop) reporting to `settings.sentry_dsn`. True when on."""
    if not settings.sentry_dsn:
        if _state.active:
            # A disabled client (tests build apps with and without), with the same options:
            # a bare `init()` would turn on the automatic integrations.
            sentry_sdk.init(**_options(settings))
            _state.active = False
        return False
    sentry_sdk.init(**_options(settings))
    _state.active = True
    return True


def report_exception(exc: BaseException, *, request_id: str | None = None,
                     where: str = "request", **tags: str) -> None:
    """One event for `exc`, tagged with the request id and the current trace id."""
    if not _state.active:
        return
    with sentry_sdk.new_scope() as scope:
        scope.set_tag("where", where)
        if request_id:
            scope.set_tag("request_id", request_id)
        ids = current_trace_ids()
        if ids is not None:
            scope.set_tag("trace_id", ids[0])
        for key, value in tags.items():
            scope.set_tag(key, value)
        scope.capture_exception(exc)


def flush(timeout: float = 2.0) -> None:
    """Send what is queued (the end of a process, tests)."""
    if _state.active:
        sentry_sdk.flush(timeout=timeout)
