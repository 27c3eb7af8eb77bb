"""Wiring of the WorkloadPlacement controller, all through the tmc.kcp.io virtual workspace.

Placements are keyed per object; a registration change re-enqueues every placement of the same logical
cluster, a workload change (of any placeable kind) the placements of its namespace, a binding change the
placement named by its label. Nothing crosses a logical cluster boundary.
"""

from __future__ import annotations

from typing import Any

from tmc.api import CLUSTER_REGISTRATION, WORKLOAD_RESOURCES
from tmc.controllers.informers import shared_informer
from tmc.controllers.workloadplacement.bindings import BINDINGS, placement_of
from tmc.controllers.workloadplacement.reconcile import PLACEMENTS, WorkloadPlacementReconciler
from tmc.kcp.resources import resource_of
from tmc.kcp.rest import KubeClient
from tmc.runtime import BY_CLUSTER, Controller, EventHandler, Informer, Manager, ObjectKey, StatusWriter, key_of
from tmc.runtime.keys import cluster_of

NAME = "workloadplacement"


def setup(
    manager: Manager,
    virtual_workspace: KubeClient,
    *,
    status: StatusWriter | None = None,
    workers: int = 4,
    resync_period: float = 60.0,
) -> Controller:
    """``status``: the process's one status writer (with the leadership fence); a fence-less one if omitted."""

    def informer(resource: Any) -> Informer:
        return shared_informer(manager, virtual_workspace, resource, resync_period=resync_period)

    placements = informer(PLACEMENTS)
    registrations = informer(resource_of(CLUSTER_REGISTRATION))
    workloads = {info.api_version + "/" + info.kind: informer(resource_of(info)) for info in WORKLOAD_RESOURCES}
    bindings = informer(BINDINGS)
    if status is None:
        status = StatusWriter(virtual_workspace, field_manager="tmc-controller", metrics=manager.metrics)
    reconciler = WorkloadPlacementReconciler(
        virtual_workspace, placements, registrations, workloads, bindings, status=status
    )
    controller = manager.add_controller(Controller(NAME, reconciler, workers=workers, metrics=manager.metrics))
    placements.add_handler(EventHandler.enqueue(controller.enqueue))

    def placements_of_cluster(obj: dict[str, Any]) -> None:
        for placement in placements.by_index(BY_CLUSTER, cluster_of(obj)):
            controller.enqueue(key_of(placement))

    def placements_of_namespace(obj: dict[str, Any]) -> None:
        namespace = obj["metadata"].get("namespace")
        for placement in placements.by_index(BY_CLUSTER, cluster_of(obj)):
            if placement["metadata"].get("namespace") == namespace:
                controller.enqueue(key_of(placement))

    # Updates re-decide only when something a decision reads changed: never for the sync engine's status
    # writes, finalizers or a heartbeat's timestamp (a placement re-decides all of its workloads).
    registrations.add_handler(
        on_add=placements_of_cluster,
        on_update=lambda old, new: placements_of_cluster(new) if _view(old, _CLUSTER) != _view(new, _CLUSTER) else None,
        on_delete=placements_of_cluster,
    )
    for workload_informer in workloads.values():
        workload_informer.add_handler(
            on_add=placements_of_namespace,
            on_update=lambda old, new: (
                placements_of_namespace(new) if _view(old, _WORKLOAD) != _view(new, _WORKLOAD) else None
            ),
            on_delete=placements_of_namespace,
        )

    def placement_of_binding(obj: dict[str, Any]) -> None:
        placement = placement_of(obj)
        if placement:
            controller.enqueue(ObjectKey(cluster_of(obj), obj["metadata"].get("namespace") or "", placement))

    bindings.add_handler(
        on_add=placement_of_binding,
        on_update=lambda old, new: placement_of_binding(new) if _view(old, _BINDING) != _view(new, _BINDING) else None,
        on_delete=placement_of_binding,
    )
    return controller


# What a decision reads of each kind, as paths into the object.
_CLUSTER = (
    ("metadata", "labels"),
    ("spec",),
    ("status", "conditions"),
    ("status", "capabilities"),
    ("status", "allocatable"),
)
_WORKLOAD = (("metadata", "labels"), ("metadata", "deletionTimestamp"), ("spec", "replicas"))
_BINDING = (("metadata", "labels"), ("metadata", "deletionTimestamp"), ("spec",))


def _view(obj: dict[str, Any], paths: tuple[tuple[str, ...], ...]) -> list[Any]:
    out = []
    for path in paths:
        value: Any = obj
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        if path == ("status", "conditions") and isinstance(value, list):
            # Heartbeat timestamps move; the decision reads only each condition's status and its transition.
            value = [(c.get("type"), c.get("status"), c.get("lastTransitionTime")) for c in value]
        out.append(value)
    return out
