"""Objects as kcp returns them, for rendering tests: small builders with the fields a case sets."""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]


def condition(kind: str, status: str, reason: str = "") -> JSON:
    return {"type": kind, "status": status, "reason": reason or kind, "message": "", "lastTransitionTime": ""}


def registration(
    name: str,
    *,
    ready: tuple[str, str] | None = ("True", "Ready"),
    location: str = "us-west-1",
    labels: dict[str, str] | None = None,
    capabilities: list[JSON] | None = None,
    allocatable: JSON | None = None,
    nodes: int | None = None,
    version: str | None = None,
    declared: list[JSON] | None = None,
) -> JSON:
    status: JSON = {}
    if ready is not None:
        status["conditions"] = [condition("Ready", *ready)]
    if capabilities is not None:
        status["capabilities"] = capabilities
    if allocatable is not None:
        status["allocatable"] = allocatable
    if nodes is not None:
        status["nodeCount"] = nodes
    if version is not None:
        status["kubernetesVersion"] = version
    return {
        "apiVersion": "tmc.kcp.io/v1alpha1",
        "kind": "ClusterRegistration",
        "metadata": {"name": name, "labels": labels or {}, "resourceVersion": "1"},
        "spec": {"location": location, "capabilities": declared or []},
        "status": status,
    }


def placement(
    name: str,
    *,
    namespace: str = "default",
    strategy: str = "Spread",
    workloads: int = 0,
    scheduled: int = 0,
    selected: str | None = None,
    scheduled_condition: tuple[str, str] | None = None,
) -> JSON:
    status: JSON = {"workloads": workloads, "scheduledWorkloads": scheduled}
    if selected is not None:
        status["selectedClusters"] = selected
    if scheduled_condition is not None:
        status["conditions"] = [condition("Scheduled", *scheduled_condition)]
    return {
        "apiVersion": "tmc.kcp.io/v1alpha1",
        "kind": "WorkloadPlacement",
        "metadata": {"name": name, "namespace": namespace, "generation": 1, "resourceVersion": "1"},
        "spec": {"strategy": strategy},
        "status": status,
    }


def binding(
    workload: str,
    chosen: dict[str, int],
    copies: list[JSON] | None = None,
    *,
    namespace: str = "default",
    placement: str = "web-app-placement",
    applied: tuple[str, str] | None = None,
    generation: int = 1,
    observed: int | None = 1,
) -> JSON:
    status: JSON = {"clusters": copies or []}
    if observed is not None:
        status["observedGeneration"] = observed
    if applied is not None:
        status["conditions"] = [condition("Applied", *applied)]
    return {
        "apiVersion": "tmc.kcp.io/v1alpha1",
        "kind": "WorkloadBinding",
        "metadata": {
            "name": f"deployment-{workload}",
            "namespace": namespace,
            "generation": generation,
            "resourceVersion": "1",
        },
        "spec": {
            "workload": {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": namespace, "name": workload},
            "placement": placement,
            "clusters": [{"name": name, "replicas": replicas} for name, replicas in chosen.items()],
        },
        "status": status,
    }


def copy(
    name: str, *, ready: int | None, applied: bool = True, reason: str = "Applied", health: str = "Healthy"
) -> JSON:
    out: JSON = {"name": name, "applied": applied, "reason": reason, "health": health}
    if ready is not None:
        out["readyReplicas"] = ready
    return out
