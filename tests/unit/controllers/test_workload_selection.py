"""The one rule for which workloads a placement selects (the controller and `tmc explain` both use it)."""

from __future__ import annotations

from typing import Any

from tmc.controllers.workloadplacement.selection import select_workloads

JSON = dict[str, Any]


def obj(name: str, *, namespace: str = "default", labels: dict[str, str] | None = None, **meta: Any) -> JSON:
    return {"metadata": {"name": name, "namespace": namespace, "labels": labels or {}, **meta}, "spec": {}}


def placement(resources: list[JSON] | None = None, labels: JSON | None = None) -> JSON:
    workload_selector: JSON = {}
    if resources is not None:
        workload_selector["resources"] = resources
    if labels is not None:
        workload_selector["labelSelector"] = labels
    return {"metadata": {"name": "p", "namespace": "default"}, "spec": {"workloadSelector": workload_selector}}


def names(selected: list[JSON]) -> list[str]:
    return [f"{w['kind']}/{w['metadata']['name']}" for w in selected]


CLUSTER = {
    "apps/v1/Deployment": [obj("web"), obj("api", labels={"tier": "back"}), obj("gone", deletionTimestamp="t")],
    "apps/v1/StatefulSet": [obj("db", labels={"tier": "back"})],
    "batch/v1/Job": [obj("migrate"), obj("elsewhere", namespace="other")],
}


def of(kind_key: str) -> list[JSON]:
    return CLUSTER.get(kind_key, [])


def test_the_default_is_every_deployment_of_the_namespace_not_being_deleted() -> None:
    assert names(select_workloads(placement(), of)) == ["Deployment/api", "Deployment/web"]


def test_several_kinds_names_and_labels() -> None:
    resources = [
        {"apiVersion": "apps/v1", "kind": "StatefulSet"},
        {"apiVersion": "batch/v1", "kind": "Job", "name": "migrate"},
        {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
    ]
    # Ordered by apiVersion/kind/namespace/name, whatever the order of the entries.
    assert names(select_workloads(placement(resources), of)) == ["Deployment/web", "StatefulSet/db", "Job/migrate"]
    back = placement(resources, {"matchLabels": {"tier": "back"}})
    assert names(select_workloads(back, of)) == ["StatefulSet/db"]


def test_each_workload_once_stamped_with_its_kind_and_other_namespaces_and_unknown_kinds_select_nothing() -> None:
    resources = [
        {"apiVersion": "apps/v1", "kind": "Deployment"},
        {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        {"apiVersion": "example.com/v1", "kind": "Widget"},
    ]
    selected = select_workloads(placement(resources), of)
    assert names(selected) == ["Deployment/api", "Deployment/web"]
    assert {w["apiVersion"] for w in selected} == {"apps/v1"}
    assert select_workloads(placement([{"apiVersion": "batch/v1", "kind": "Job", "name": "elsewhere"}]), of) == []
