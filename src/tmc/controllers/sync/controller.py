"""Wiring of the sync engine: what it watches in kcp and how each change maps to a WorkloadBinding key.

All watches go through the tmc.kcp.io virtual workspace, one per kind across every tenant: bindings, each
placeable workload kind, and the dependency kinds (ConfigMaps, ServiceAccounts, Secrets shared with cluster
access). A workload change enqueues its binding (the name is derived from the workload, no lookup); a
dependency change enqueues the bindings of its namespace whose workloads reference it; a registration whose
cluster became usable again (or went away) enqueues the bindings that name it. A second small controller, the
namespace janitor, deletes a physical namespace once nothing TMC manages is left in it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tmc.api import WORKLOAD_RESOURCES, binding_name
from tmc.clusters import ClusterDirectory
from tmc.controllers.informers import shared_informer
from tmc.controllers.sync.copies import WATCHED_KINDS, CopyWatches
from tmc.controllers.sync.metrics import BindingCollector, SyncMetrics
from tmc.controllers.sync.namespaces import NamespaceJanitor
from tmc.controllers.sync.reconcile import BINDINGS, SyncReconciler, SyncSettings
from tmc.controllers.sync.transform import CONFIGMAP, SECRET, SERVICE_ACCOUNT, ObjectRef, dependencies
from tmc.kcp.resources import Resource, resource_of
from tmc.kcp.rest import KubeClient
from tmc.runtime import BY_CLUSTER, Controller, EventHandler, Informer, Manager, ObjectKey
from tmc.runtime.keys import cluster_of
from tmc.runtime.status import StatusWriter

NAME = "sync"


def setup(
    manager: Manager,
    virtual_workspace: KubeClient,
    directory: ClusterDirectory,
    *,
    status: StatusWriter,
    settings: SyncSettings | None = None,
    workers: int = 16,
    resync_period: float | None = 300.0,
) -> tuple[Controller, CopyWatches]:
    """The sync controller (and its namespace janitor) on ``manager``; the copy watches must be closed by the
    caller (``async with``) since they start lazily, per cluster connection, while reconciles run."""
    settings = settings or SyncSettings()
    if len(WATCHED_KINDS) > directory.settings.watch_connections:
        raise ValueError(
            f"ProbeSettings.watch_connections is {directory.settings.watch_connections}: the copy watches need"
            f" {len(WATCHED_KINDS)} connections per cluster client"
        )

    def informer(resource: Resource) -> Informer:
        return shared_informer(manager, virtual_workspace, resource, resync_period=resync_period)

    bindings = informer(BINDINGS)
    sources: dict[tuple[str, str], Informer] = {
        (info.api_version, info.kind): informer(resource_of(info)) for info in WORKLOAD_RESOURCES
    }
    sources[(CONFIGMAP.api_version, CONFIGMAP.kind)] = informer(CONFIGMAP)
    sources[(SERVICE_ACCOUNT.api_version, SERVICE_ACCOUNT.kind)] = informer(SERVICE_ACCOUNT)
    sources[(SECRET.api_version, SECRET.kind)] = directory.secrets

    janitor_reconciler = NamespaceJanitor(bindings, directory)
    janitor = manager.add_controller(
        Controller(f"{NAME}-namespaces", janitor_reconciler, workers=2, metrics=manager.metrics)
    )

    def namespace_emptied(cluster: str, namespace: str, registration: str) -> None:
        janitor.enqueue_after(ObjectKey(cluster, namespace, registration), settings.namespace_grace)

    controllers: list[Controller] = []
    copy_watches = CopyWatches(lambda key: controllers[0].enqueue(key), metrics=manager.metrics)
    reconciler = SyncReconciler(
        virtual_workspace,
        bindings,
        sources,
        directory,
        status=status,
        settings=settings,
        on_namespace_emptied=namespace_emptied,
        copies=copy_watches,
        metrics=SyncMetrics(manager.metrics.registry),
        wake=lambda key: controllers[0].enqueue(key),
    )
    manager.metrics.registry.register(BindingCollector(bindings))
    controller = manager.add_controller(Controller(NAME, reconciler, workers=workers, metrics=manager.metrics))
    controllers.append(controller)
    bindings.add_handler(EventHandler.enqueue(controller.enqueue))

    for (api_version, kind), source in sources.items():
        if kind in {"ConfigMap", "Secret", "ServiceAccount"}:
            on_change = _dependents(bindings, reconciler, controller, api_version, kind)
        else:
            on_change = _own_binding(controller, kind)
        source.add_handler(_on_any_change(on_change))

    def registration_changed(key: ObjectKey) -> None:
        for binding in bindings.by_index(BY_CLUSTER, key.cluster):
            named = {c.get("name") for c in binding.get("spec", {}).get("clusters", [])}
            named |= {c.get("name") for c in (binding.get("status") or {}).get("clusters", [])}
            if key.name in named:
                controller.enqueue(_key(binding))

    directory.add_listener(registration_changed)
    directory.add_closed_listener(copy_watches.forget)
    return controller, copy_watches


def _key(obj: dict[str, Any]) -> ObjectKey:
    return ObjectKey(cluster_of(obj), obj["metadata"].get("namespace") or "", obj["metadata"]["name"])


def _own_binding(controller: Controller, kind: str) -> Callable[[dict[str, Any]], None]:
    def enqueue(obj: dict[str, Any]) -> None:
        metadata = obj["metadata"]
        controller.enqueue(
            ObjectKey(cluster_of(obj), metadata.get("namespace") or "", binding_name(kind, metadata["name"]))
        )

    return enqueue


def _dependents(
    bindings: Informer, reconciler: SyncReconciler, controller: Controller, api_version: str, kind: str
) -> Callable[[dict[str, Any]], None]:
    def enqueue(obj: dict[str, Any]) -> None:
        cluster, namespace = cluster_of(obj), obj["metadata"].get("namespace") or ""
        ref = ObjectRef(api_version, kind, obj["metadata"]["name"])
        for binding in bindings.by_index(BY_CLUSTER, cluster):
            if binding["metadata"].get("namespace") != namespace:
                continue
            own = ObjectRef.of_binding(binding)
            workload = reconciler.source(cluster, namespace, own)
            if workload is not None and ref in dependencies(workload):
                controller.enqueue(_key(binding))

    return enqueue


def _on_any_change(callback: Callable[[dict[str, Any]], None]) -> EventHandler:
    def updated(old: dict[str, Any], new: dict[str, Any]) -> None:
        callback(new)

    return EventHandler(callback, updated, callback)
