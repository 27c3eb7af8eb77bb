"""Wiring of the APIExport controller: what it watches in ``root:tmc`` and how events become keys.

Any change to an export, a schema or an endpoint slice in ``root:tmc`` re-checks every TMC export: there are
two of them, and a schema or claim can affect both. The endpoint slice informer may be shared (the controller
process also feeds the virtual workspace URLs from it); ``writer`` carries the leadership fence every write of
this controller checks first.
"""

from __future__ import annotations

from tmc.controllers.apiexport.reconcile import APIExportReconciler
from tmc.install.desired import TMC_WORKSPACE, export_plans
from tmc.kcp.resources import API_EXPORT_ENDPOINT_SLICES, API_EXPORTS, API_RESOURCE_SCHEMAS, Resource
from tmc.kcp.rest import KubeClient
from tmc.runtime import Controller, EventHandler, Informer, Manager, ObjectKey, StatusWriter

NAME = "apiexport"


def setup(
    manager: Manager,
    client: KubeClient,
    *,
    endpoint_slices: Informer | None = None,
    writer: StatusWriter | None = None,
    resync_period: float = 60.0,
) -> Controller:
    def informer(resource: Resource) -> Informer:
        return manager.add_informer(
            Informer(client, resource, cluster=TMC_WORKSPACE, resync_period=resync_period, metrics=manager.metrics)
        )

    exports = informer(API_EXPORTS)
    schemas = informer(API_RESOURCE_SCHEMAS)
    if endpoint_slices is None:
        endpoint_slices = informer(API_EXPORT_ENDPOINT_SLICES)
    reconciler = APIExportReconciler(client, exports, schemas, endpoint_slices, writer=writer)
    controller = manager.add_controller(
        Controller(NAME, reconciler, workers=1, metrics=manager.metrics), reads=(exports, schemas, endpoint_slices)
    )
    names = [plan.name for plan in export_plans()]

    def enqueue_all(_: ObjectKey) -> None:
        for name in names:
            controller.enqueue(ObjectKey("", "", name))

    for source in (exports, schemas, endpoint_slices):
        source.add_handler(EventHandler.enqueue(enqueue_all))
    # Nothing announces an export that was never created: check once at start.
    enqueue_all(ObjectKey("", "", ""))
    return controller
