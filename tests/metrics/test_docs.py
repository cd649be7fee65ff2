"""docs/metrics.md lists every metric, and the Grafana dashboard shows each one."""

from __future__ import annotations

import json
import re

import pytest
from prometheus_client.registry import REGISTRY

from core.settings import ROOT
from observability import metrics  # noqa: F401  (declares the metrics)

pytestmark = pytest.mark.no_db

AT_SCRAPE = {"relleks_job_queue_depth", "relleks_job_queue_oldest_seconds",
             "relleks_job_queue_read_ok"}


def declared() -> set[str]:
    names = set()
    for family in REGISTRY.collect():
        if family.name.startswith("relleks_"):
            suffix = "_total" if family.type == "counter" else ""
            names.add(family.name + suffix)
    return names | AT_SCRAPE


def test_every_metric_is_documented_and_on_the_dashboard() -> None:
    documented = set(re.findall(r"^\| `(relleks_\w+)` \|",
                                (ROOT / "docs/metrics.md").read_text(), re.MULTILINE))
    assert declared() == documented
    dashboard = json.loads((ROOT / "ops/grafana/relleks-api.json").read_text())
    expressions = " ".join(target["expr"] for panel in dashboard["panels"]
                           for target in panel["targets"])
    missing = {name for name in documented
               if re.sub(r"_total$", "", name) not in expressions}
    assert missing == set()
