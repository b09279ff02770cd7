"""deploy/grafana/payhub-dashboard.json graphs what the app exports: every expression names a
metric /metrics has, with labels it has, and every metric the app exports is graphed."""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
from pathlib import Path

import pytest
from prometheus_client.metrics import MetricWrapperBase

from payhub import metrics

DASHBOARD = Path(__file__).resolve().parent.parent.parent / "deploy" / "grafana" / "payhub-dashboard.json"
SERIES = re.compile(r"\b(payhub_[a-z0-9_]+)(\{[^}]*\})?")
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
PROMETHEUS_LABELS = {"instance", "job"}  # added by the scrape


def exported() -> dict[str, set[str]]:
    """Series name -> its label names, for every metric registered where /metrics reads
    (payhub.metrics.REGISTRY, whichever module defines it)."""
    import payhub

    for module in pkgutil.walk_packages(payhub.__path__, "payhub."):
        importlib.import_module(module.name)  # a module registers its metrics when imported
    series: dict[str, set[str]] = {}
    for metric in list(metrics.REGISTRY._collector_to_names):
        if not isinstance(metric, MetricWrapperBase):
            continue
        labels = set(metric._labelnames) | PROMETHEUS_LABELS
        names = {"counter": [metric._name + "_total"], "gauge": [metric._name],
                 "histogram": [metric._name + s for s in ("_bucket", "_sum", "_count")]}[metric._type]
        for name in names:
            series[name] = labels | ({"le"} if name.endswith("_bucket") else set())
    return series


def expressions() -> list[str]:
    found = []

    def walk(node) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("expr"), str):
                found.append(node["expr"])
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(json.loads(DASHBOARD.read_text()))
    return found


def test_the_dashboard_has_expressions():
    assert len(expressions()) >= 20


@pytest.mark.parametrize("expr", expressions())
def test_every_expression_names_exported_metrics_and_their_labels(expr):
    series = exported()
    used_labels: set[str] = set()
    for name, matchers in SERIES.findall(expr):
        assert name in series, f"{name} is not exported by payhub/metrics.py"
        for label in re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", matchers):
            assert label in series[name], f"{name} has no label {label!r}"
        used_labels |= series[name]
    for group in GROUPING.findall(expr):
        for label in filter(None, (part.strip() for part in group.split(","))):
            assert label in used_labels, f"{label!r} is not a label of the metrics in {expr}"


def test_every_exported_metric_is_graphed():
    text = " ".join(expressions())
    graphed = {name for name, _ in SERIES.findall(text)}
    families = {}
    for name in exported():
        families.setdefault(re.sub(r"_(bucket|sum|count|total)$", "", name), set()).add(name)
    missing = [family for family, names in families.items() if not names & graphed]
    assert not missing, f"add a panel for {missing} to {DASHBOARD.name}"


def test_a_wrong_name_would_be_caught():
    assert not SERIES.findall("rate(node_cpu_seconds_total[5m])")
    assert "payhub_callback_seconds_bucket" in exported()
    assert "payhub_callback_seconds" not in exported()  # a histogram is read through its series
