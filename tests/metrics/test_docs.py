"""docs/observability.md lists every metric (the one list: docs/metrics.md links to it), the
Grafana dashboard shows each one, and the dashboard uses only metrics, and labels, that exist."""

from __future__ import annotations

import json
import re

import pytest
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.registry import REGISTRY

from core.settings import ROOT
from observability import metrics

pytestmark = pytest.mark.no_db

AT_SCRAPE = {"relleks_job_queue_depth": ["kind"], "relleks_job_queue_oldest_seconds": ["kind"],
             "relleks_job_queue_read_ok": []}
"""Families made at scrape time (`observability/exposition.py`), and their labels."""
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
SCRAPE_LABELS = {"job", "instance", "le"}
"""Labels Prometheus adds (`job`, `instance`) or histograms have (`le`)."""


def declared() -> dict[str, set[str]]:
    """Every relleks_ metric as documented (counters with `_total`), and its labels."""
    names: dict[str, set[str]] = {name: set(labels) for name, labels in AT_SCRAPE.items()}
    for metric in vars(metrics).values():
        if isinstance(metric, MetricWrapperBase):
            [family] = metric.describe()
            suffix = "_total" if family.type == "counter" else ""
            # prometheus-client keeps a metric's label names in `_labelnames` (no public way).
            names[family.name + suffix] = set(metric._labelnames)
    return names


def series() -> dict[str, set[str]]:
    """Every series name a scrape may hold (`_bucket`, `_sum`...), and its metric's labels."""
    found: dict[str, set[str]] = {}
    for family in REGISTRY.collect():
        if family.name.startswith("relleks_"):
            labels = declared().get(family.name + ("_total" if family.type == "counter"
                                                   else ""), set())
            for suffix in SUFFIXES.get(family.type, ("",)):
                found[family.name + suffix] = labels
    return found | {name: set(labels) for name, labels in AT_SCRAPE.items()}


def documented() -> set[str]:
    return set(re.findall(r"^\| `(relleks_\w+)` \|",
                          (ROOT / "docs/observability.md").read_text(), re.MULTILINE))


def expressions() -> list[str]:
    dashboard = json.loads((ROOT / "ops/grafana/relleks-api.json").read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def test_every_metric_is_documented_and_on_the_dashboard() -> None:
    assert set(declared()) == documented()
    joined = " ".join(expressions())
    missing = {name for name in documented()
               if re.sub(r"_total$", "", name) not in joined}
    assert missing == set()


def test_metrics_md_links_to_the_one_list_instead_of_keeping_its_own() -> None:
    text = (ROOT / "docs/metrics.md").read_text()
    assert "observability.md#every-metric" in text
    assert not re.search(r"^\| `relleks_", text, re.MULTILINE)


def test_the_dashboard_uses_only_metrics_and_labels_that_exist() -> None:
    known = series()
    for expr in expressions():
        used = set(re.findall(r"\b(relleks_\w+)", expr))
        assert used, expr
        unknown = used - set(known)
        assert unknown == set(), f"{expr}: no such metric {sorted(unknown)}"
        labels = set(re.findall(r"\bby \(([^)]*)\)", expr))
        names = {label.strip() for group in labels for label in group.split(",")}
        names |= set(re.findall(r"[{,]\s*(\w+)\s*[!=]~?", expr))
        for metric in used:
            assert names - SCRAPE_LABELS <= known[metric], \
                f"{expr}: {metric} has no label {sorted(names - SCRAPE_LABELS - known[metric])}"


def test_the_dashboard_check_sees_a_metric_that_does_not_exist() -> None:
    known = series()
    assert "relleks_graphql_requests_total" in known
    assert "relleks_graphql_request_duration_seconds_bucket" in known
    assert "relleks_graphql_requests_count" not in known
    assert known["relleks_graphql_errors_total"] == {"code"}
