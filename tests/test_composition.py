"""The composition root wires everything once: `server.create_app` builds `Services` with the
budgets billing prices, and registers the job tasks on its queue; nothing is stored on an object
after it is built (the cost budgets used to be tucked onto `Services` through `vars()` on first
use, and the queue was handed `Services` after construction)."""

from __future__ import annotations

import dataclasses
from typing import Any

from billing.budgets import CostBudgets
from services import Services
from services.queue import SWEEP_TASK, WORK_TASK
from tests.conftest import Api


async def test_services_hold_only_what_they_declare_after_a_request(app: Any, api: Api) -> None:
    body = await api.gql("{ rateLimit { requested limit } }")
    assert body["data"]["rateLimit"]["requested"] == 1  # the budgets were spent from
    services = app.state.services
    assert set(vars(services)) == {field.name for field in dataclasses.fields(Services)}
    assert isinstance(services.cost_budgets, CostBudgets)


async def test_the_root_registers_the_job_tasks_on_the_queue(app: Any) -> None:
    jobs = app.state.services.jobs
    assert {WORK_TASK, SWEEP_TASK} <= set(jobs.app.tasks)
    assert "services" not in vars(jobs)  # the tasks close over Services; the queue knows none
