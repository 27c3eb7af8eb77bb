"""``tmc get`` tables from fixture objects: every column, missing fields, per-copy rows of a workload."""

from __future__ import annotations

import re

import pytest
from rich.table import Table

from tmc.cli import tables

from .fixtures import binding, copy, placement, registration


def rows(table: Table) -> list[dict[str, str]]:
    """The rendered table as dicts keyed by header, cut at the headers' columns (cells may be blank)."""
    lines = [line.rstrip() for line in tables.render(table).splitlines() if line.strip()]
    header = lines[0]
    starts = [m.start() for m in re.finditer(r"\S+", header)]
    names = header.split()
    out = []
    for line in lines[1:]:
        cells = [line[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
        out.append(dict(zip(names, cells, strict=True)))
    return out


def test_a_probed_cluster_shows_readiness_location_labels_capabilities_capacity_and_version() -> None:
    item = registration(
        "us-west-2",
        location="us-west-2",
        labels={"region": "us-west", "tier": "gold"},
        capabilities=[
            {"type": "storage", "available": True},
            {"type": "compute", "available": True},
            {"type": "gpu", "available": False},
        ],
        allocatable={"cpu": "32", "memory": "128Gi"},
        nodes=4,
        version="v1.36.3",
    )
    [row] = rows(tables.clusters_table([item]))
    assert row == {
        "NAME": "us-west-2",
        "READY": "True",
        "LOCATION": "us-west-2",
        "LABELS": "region=us-west,tier=gold",
        "CAPABILITIES": "compute,gpu(unavailable),storage",
        "CPU": "32",
        "MEMORY": "128Gi",
        "NODES": "4",
        "VERSION": "v1.36.3",
    }


def test_a_cluster_not_probed_yet_shows_dashes_and_its_declared_capabilities() -> None:
    item = registration("new", ready=None, declared=[{"type": "compute"}], labels={})
    [row] = rows(tables.clusters_table([item]))
    assert row["READY"] == "-"
    assert row["LABELS"] == "<none>"
    assert row["CAPABILITIES"] == "compute"
    assert (row["CPU"], row["MEMORY"], row["NODES"], row["VERSION"]) == ("-", "-", "-", "-")


def test_a_cluster_that_is_not_ready_shows_the_reason() -> None:
    [row] = rows(tables.clusters_table([registration("down", ready=("False", "HeartbeatMissed"))]))
    assert row["READY"] == "False (HeartbeatMissed)"


def test_clusters_are_sorted_by_name() -> None:
    names = [r["NAME"] for r in rows(tables.clusters_table([registration("b"), registration("a")]))]
    assert names == ["a", "b"]


def test_placements_show_strategy_scheduled_of_total_clusters_and_condition() -> None:
    items = [
        placement(
            "web", workloads=3, scheduled=2, selected="us-west-1,us-west-2", scheduled_condition=("False", "TooFew")
        ),
        placement("idle", strategy="RoundRobin"),
    ]
    by_name = {r["NAME"]: r for r in rows(tables.placements_table(items))}
    assert by_name["web"] == {
        "NAME": "web",
        "STRATEGY": "Spread",
        "WORKLOADS": "2/3",
        "CLUSTERS": "us-west-1,us-west-2",
        "SCHEDULED": "False (TooFew)",
    }
    assert by_name["idle"]["WORKLOADS"] == "0/0"
    assert by_name["idle"]["CLUSTERS"] == "<none>"
    assert by_name["idle"]["SCHEDULED"] == "-"


def test_placements_of_all_namespaces_carry_a_namespace_column() -> None:
    items = [placement("p", namespace="prod"), placement("p", namespace="dev")]
    got = [(r["NAMESPACE"], r["NAME"]) for r in rows(tables.placements_table(items, all_namespaces=True))]
    assert got == [("dev", "p"), ("prod", "p")]


def test_a_workload_shows_one_row_per_cluster_with_ready_of_wanted_and_a_total() -> None:
    item = binding(
        "web",
        {"us-west-1": 2, "us-west-2": 4},
        [copy("us-west-1", ready=2), copy("us-west-2", ready=3, health="Progressing")],
        applied=("True", "Applied"),
    )
    got = rows(tables.workloads_table([item]))
    assert got == [
        {
            "WORKLOAD": "deployment/web",
            "PLACEMENT": "web-app-placement",
            "CLUSTER": "us-west-1",
            "REPLICAS": "2",
            "READY": "2/2",
            "HEALTH": "Healthy",
            "APPLIED": "True",
        },
        {
            "WORKLOAD": "",
            "PLACEMENT": "",
            "CLUSTER": "us-west-2",
            "REPLICAS": "4",
            "READY": "3/4",
            "HEALTH": "Progressing",
            "APPLIED": "True",
        },
        {
            "WORKLOAD": "",
            "PLACEMENT": "",
            "CLUSTER": "(total)",
            "REPLICAS": "6",
            "READY": "5/6",
            "HEALTH": "",
            "APPLIED": "True",
        },
    ]


def test_a_copy_not_reported_yet_is_pending_and_a_refused_one_names_its_reason() -> None:
    item = binding(
        "web",
        {"a": 1, "b": 1},
        [copy("b", ready=None, applied=False, reason="Conflict", health="Unknown")],
    )
    by_cluster = {r["CLUSTER"]: r for r in rows(tables.workloads_table([item]))}
    assert by_cluster["a"]["APPLIED"] == "pending"
    assert by_cluster["a"]["READY"] == "-"
    assert by_cluster["b"]["APPLIED"] == "False (Conflict)"
    assert by_cluster["b"]["READY"] == "0/1"


def test_a_cluster_being_left_is_shown_as_removing_after_the_chosen_ones() -> None:
    item = binding("web", {"new": 3}, [copy("new", ready=3), copy("old", ready=3)])
    clusters = [(r["CLUSTER"], r["APPLIED"]) for r in rows(tables.workloads_table([item]))]
    assert clusters == [("new", "True"), ("old", "(removing)"), ("(total)", "-")]


def test_a_workload_no_cluster_fits_has_one_row_saying_none() -> None:
    item = binding("web", {}, applied=("False", "NoClusters"))
    [row] = rows(tables.workloads_table([item]))
    assert (row["CLUSTER"], row["APPLIED"]) == ("<none>", "False (NoClusters)")


@pytest.mark.parametrize(
    ("chosen", "copies", "expected"),
    [
        pytest.param({"a": 2, "b": 4}, [copy("a", ready=2), copy("b", ready=4)], (6, 6), id="all ready"),
        pytest.param({"a": 2, "b": 4}, [copy("a", ready=1)], (1, 6), id="one copy not reported"),
        pytest.param(
            {"a": 2}, [copy("a", ready=2), copy("old", ready=5)], (2, 2), id="a cluster being left counts not"
        ),
    ],
)
def test_ready_summary_sums_over_the_chosen_clusters(
    chosen: dict[str, int], copies: list[dict[str, object]], expected: tuple[int, int]
) -> None:
    assert tables.ready_summary(binding("web", chosen, copies)) == expected
