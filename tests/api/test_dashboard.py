"""The Grafana dashboard (``docs/grafana/cloud-broker.json``) queries only metrics and labels
that ``/metrics`` really has: a renamed metric breaks this test, not an operator's dashboard."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.api.conftest import BrokerUnderTest
from tests.api.test_metrics import mb  # noqa: F401 - the fixture

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana" / "cloud-broker.json"
METRIC = re.compile(r"\bcloud_broker_[a-z_]+\b")
GROUPED = re.compile(r"\bby \(([^)]*)\)")
SELECTED = re.compile(r"\{([^}]*)\}")
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def exposed(bt: BrokerUnderTest) -> dict[str, set[str]]:
    """Every series name ``/metrics`` declares, with the label names its samples carry."""
    found: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(bt.client.get("/metrics").text):
        for suffix in SUFFIXES[family.type]:
            found.setdefault(family.name + suffix, set())
        for sample in family.samples:
            found.setdefault(sample.name, set()).update(sample.labels)
    return found


def test_every_metric_and_label_the_dashboard_queries_is_exposed(mb: BrokerUnderTest) -> None:  # noqa: F811
    mb.client.post("/aws/grants", json=mb.grant_body(), headers=mb.headers())
    pending = mb.client.post("/aws/grants", json=mb.grant_body(actions=["s3:PutObject"]), headers=mb.headers())
    mb.broker.approvals.approve(pending.json()["grant_id"], "alice")
    series = exposed(mb)
    used: set[str] = set()
    for expr in queries():
        names = set(METRIC.findall(expr))
        assert names, expr
        labels = {label.strip() for group in GROUPED.findall(expr) for label in group.split(",")}
        labels |= {pair.split("=")[0].strip() for group in SELECTED.findall(expr) for pair in group.split(",") if pair}
        for name in names:
            assert name in series, f"{name} (in {expr}) is not in /metrics"
            carried: Any = series[name] | ({"le"} if name.endswith("_bucket") else set())
            if series[name]:  # a series with samples: its labels are known
                assert labels <= carried, f"{expr} groups by {labels - carried}, which {name} lacks"
        used |= names
    bases = {re.sub(r"_(total|bucket|count|sum)$", "", name) for name in used}
    # ``*_created`` are the client library's own timestamps of each series, not metrics to chart.
    declared = {family.name for family in text_string_to_metric_families(mb.client.get("/metrics").text)
                if not family.name.endswith("_created")}
    assert declared <= bases, f"metrics no panel shows: {declared - bases}"
