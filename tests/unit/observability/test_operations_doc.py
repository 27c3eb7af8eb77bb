"""docs/operations.md and the Grafana dashboard cannot drift from the metrics the code registers."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tmc.controllers.metrics_catalog import BEGIN, END, base_names, catalog, with_table

ROOT = Path(__file__).resolve().parents[3]
OPERATIONS = ROOT / "docs" / "operations.md"
DASHBOARD = ROOT / "deploy" / "grafana" / "tmc.json"
# Metric constructors anywhere in src/tmc: the catalog must know every name they register.
CONSTRUCTED = re.compile(r"(?:Counter|Gauge|Histogram|Summary|MetricFamily)\(\s*\"(tmc_[a-z0-9_]+)\"")
MENTIONED = re.compile(r"\btmc_[a-z0-9_]+")
# The questions docs/operations.md promises to answer, and what the answers must be built on.
REQUIRED = {
    "tmc_cluster_not_ready",
    "tmc_cluster_probe_duration_seconds",
    "tmc_sync_apply_latency_seconds",
    "tmc_sync_apply_errors_total",
    "tmc_sync_bindings_failing",
    "tmc_workqueue_depth",
    "tmc_reconcile_duration_seconds",
}


def metric_of(name: str) -> str:
    """The family a mentioned series belongs to (``x_bucket`` -> ``x``, ``x_total`` -> ``x``)."""
    for suffix in ("_bucket", "_sum", "_count", "_total"):
        if name.endswith(suffix) and name.removesuffix(suffix) in base_names():
            return name.removesuffix(suffix)
    return name


def test_the_table_in_the_document_is_the_one_the_code_generates() -> None:
    document = OPERATIONS.read_text()
    assert with_table(document) == document, "run: python -m tmc.controllers.metrics_catalog docs/operations.md"


def test_every_metric_constructed_in_the_code_is_in_the_catalog() -> None:
    constructed = {
        match.group(1)
        for path in (ROOT / "src" / "tmc").rglob("*.py")
        for match in CONSTRUCTED.finditer(path.read_text())
    }
    assert constructed, "the pattern must find the metric constructors"
    assert {name.removesuffix("_total") for name in constructed} <= base_names()


def test_every_metric_the_document_mentions_exists_and_the_promised_ones_are_there() -> None:
    text = OPERATIONS.read_text()
    mentioned = {metric_of(name) for name in MENTIONED.findall(text)}
    assert mentioned - base_names() == set()
    documented = {doc.name for doc in catalog()}
    assert documented >= REQUIRED
    table = text[text.index(BEGIN) : text.index(END)]
    assert all(f"`{name}`" in table for name in documented)


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def test_the_dashboard_is_a_grafana_dashboard_with_distinct_placed_panels() -> None:
    board = dashboard()
    assert board["title"] == "TMC"
    assert board["uid"]
    panels = board["panels"]
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids))
    for panel in panels:
        assert set(panel["gridPos"]) == {"x", "y", "w", "h"}
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        if panel["type"] != "row":
            assert panel["targets"], panel["title"]
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
    assert [v["name"] for v in board["templating"]["list"]] == ["datasource"]


@pytest.mark.parametrize("promise", sorted(REQUIRED))
def test_the_dashboard_shows(promise: str) -> None:
    queries = " ".join(t["expr"] for p in dashboard()["panels"] for t in p.get("targets", []))
    assert promise.removesuffix("_total") in queries


def test_every_dashboard_query_uses_only_metrics_the_code_registers() -> None:
    queries = [t["expr"] for p in dashboard()["panels"] for t in p.get("targets", [])]
    used = {metric_of(name) for expr in queries for name in MENTIONED.findall(expr)}
    assert used
    assert used - base_names() == set()
