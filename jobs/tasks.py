"""The job queue's two tasks, registered by the composition root on one app's queue.

    register(services)   # server.py and jobs/worker.py, right after Services.build

`relleks.run_work` runs one row of `scheduled_work` (`jobs.work`); `relleks.sweep`, every
minute, re-queues what a lost queue forgot, queues the custom-domain checks that are due and
applies retention (`jobs.sweep`); `relleks.check_custom_domain` checks one custom domain's DNS
records (`jobs.custom_domains`); `relleks.deliver_webhook` makes one delivery attempt of a
webhook message (`jobs.webhooks`), in its endpoint's lane on the `webhooks` queue, and
`relleks.queue_webhook` queues a later attempt in its lane when it is due
(`services.queue.Jobs.defer_webhook`). The tasks close
over the app's `Services` (the mailer, the storage, Stripe), so nothing is patched onto the
queue after it is built.

Each run is a span (`job <task name>`, with `messaging.operation.name=process`) linked to the
span that queued it (the `traceparent` argument `services.queue` adds when tracing is on), and
an exception that escapes it is reported (`core/error_reports.py`) before procrastinate retries.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable

import procrastinate

from core import tracing
from core.error_reports import report_exception
from jobs import custom_domains, sweep, webhooks, work
from observability.metrics import count_webhook_attempt
from services import Services
from services.queue import (
    DOMAIN_CHECK_TASK,
    QUEUE,
    SWEEP_TASK,
    WEBHOOK_QUEUE,
    WEBHOOK_RELAY_TASK,
    WEBHOOK_TASK,
    WORK_TASK,
)


async def traced(task: str, run: Awaitable[object], traceparent: str | None,
                 job_id: int | None = None) -> None:
    """Run one job inside its span; report what escapes it."""
    attributes: dict[str, object] = {"messaging.system": "procrastinate",
                                     "messaging.operation.name": "process",
                                     "relleks.job.task": task}
    if job_id is not None:
        attributes["messaging.message.id"] = str(job_id)
    with tracing.span(f"job {task}", kind=tracing.SpanKind.CONSUMER, attributes=attributes,
                      links=tracing.links_to(traceparent)):
        try:
            await run
        except Exception as exc:
            report_exception(exc, where="job", task=task)
            raise



def register(services: Services) -> None:
    """Define the tasks on `services.jobs.app`, each reaching `services`."""
    settings = services.settings
    app = services.jobs.app
    retry = procrastinate.RetryStrategy(max_attempts=settings.jobs_max_attempts,
                                        exponential_wait=settings.jobs_retry_wait)

    @app.task(name=WORK_TASK, queue=QUEUE, retry=retry, pass_context=True)
    async def run_work(context: procrastinate.JobContext, work_id: str,
                       traceparent: str | None = None) -> None:
        final = context.job.attempts >= settings.jobs_max_attempts
        await traced(WORK_TASK, work.run(services, uuid.UUID(work_id), final_attempt=final),
                     traceparent, context.job.id)

    @app.task(name=DOMAIN_CHECK_TASK, queue=QUEUE, retry=retry)
    async def check_custom_domain(domain_id: str, traceparent: str | None = None) -> None:
        await traced(DOMAIN_CHECK_TASK,
                     custom_domains.check_domain(services, uuid.UUID(domain_id)), traceparent)

    @app.task(name=WEBHOOK_TASK, queue=WEBHOOK_QUEUE, retry=retry)
    async def deliver_webhook(message_id: str, traceparent: str | None = None) -> None:
        async def deliver() -> None:
            outcome = await webhooks.deliver(services, uuid.UUID(message_id))
            if outcome in webhooks.ATTEMPTED:
                count_webhook_attempt(outcome)

        await traced(WEBHOOK_TASK, deliver(), traceparent)

    @app.task(name=WEBHOOK_RELAY_TASK, queue=WEBHOOK_QUEUE, retry=retry)
    async def queue_webhook(message_id: str, endpoint_id: str,
                            traceparent: str | None = None) -> None:
        await traced(WEBHOOK_RELAY_TASK,
                     services.jobs.defer_webhook(uuid.UUID(message_id), uuid.UUID(endpoint_id)),
                     traceparent)

    @app.periodic(cron="* * * * *")
    @app.task(name=SWEEP_TASK, queue=QUEUE, queueing_lock="sweep")
    async def periodic_sweep(timestamp: int) -> None:
        await traced(SWEEP_TASK, sweep.sweep(services), None)
