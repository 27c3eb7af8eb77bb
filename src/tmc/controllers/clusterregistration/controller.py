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
from tmc.runtime import Controller, Manager

NAME = "clusterregistration"


def setup(
    manager: Manager,
    virtual_workspace: KubeClient,
    directory: ClusterDirectory,
    settings: HealthSettings,
    *,
    workers: int = 16,
) -> Controller:
    registrations = directory.registrations
    reconciler = ClusterRegistrationReconciler(
        virtual_workspace, directory, settings, registry=manager.metrics.registry
    )
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
