"""Wiring of the ClusterRegistration controller: the directory's registrations informer, and its listener.

A key is enqueued when the registration's spec or labels change (our own status writes come back as updates
and are ignored by comparing generations), when it is deleted, and when the ``ClusterDirectory`` says its
access or its cluster's state changed. Probes run in the directory, not on this controller's workers, so a
dead cluster never holds a worker while it times out.
"""

from __future__ import annotations

from tmc.clusters import ClusterDirectory
from tmc.controllers.clusterregistration.reconcile import ClusterRegistrationReconciler, HealthSettings
from tmc.kcp.rest import KubeClient
from tmc.runtime import Controller, Manager, StatusWriter

NAME = "clusterregistration"


def setup(
    manager: Manager,
    virtual_workspace: KubeClient,
    directory: ClusterDirectory,
    settings: HealthSettings,
    *,
    status: StatusWriter | None = None,
    workers: int = 16,
) -> Controller:
    """``status``: the process's one status writer (with the leadership fence); a fence-less one if omitted."""
    registrations = directory.registrations
    if status is None:
        status = StatusWriter(virtual_workspace, field_manager="tmc-controller", metrics=manager.metrics)
    reconciler = ClusterRegistrationReconciler(status, directory, settings)
    controller = manager.add_controller(Controller(NAME, reconciler, workers=workers, metrics=manager.metrics))
    registrations.add_handler(
        on_add=controller.enqueue_object,
        on_update=lambda old, new: (
            controller.enqueue_object(new)
            if old["metadata"].get("generation") != new["metadata"].get("generation")
            or old["metadata"].get("labels") != new["metadata"].get("labels")
            else None
        ),
        on_delete=controller.enqueue_object,
    )
    directory.add_listener(controller.enqueue)
    return controller
