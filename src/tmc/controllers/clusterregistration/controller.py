"""Wiring of the ClusterRegistration controller: one wildcard watch through the tmc.kcp.io virtual workspace.

Every registration is re-probed on its own heartbeat (``requeue_after``), so probes of different clusters run
on different workers and a slow cluster only delays itself.
"""

from __future__ import annotations

from tmc.controllers.clusterregistration.reconcile import REGISTRATIONS, ClusterRegistrationReconciler, HealthSettings
from tmc.kcp.paths import ALL_CLUSTERS
from tmc.kcp.rest import KubeClient
from tmc.runtime import Controller, Informer, Manager

NAME = "clusterregistration"


def setup(
    manager: Manager,
    virtual_workspace: KubeClient,
    settings: HealthSettings,
    *,
    workers: int = 16,
    resync_period: float = 60.0,
) -> Controller:
    registrations = manager.add_informer(
        Informer(
            virtual_workspace, REGISTRATIONS, cluster=ALL_CLUSTERS, resync_period=resync_period, metrics=manager.metrics
        )
    )
    reconciler = ClusterRegistrationReconciler(virtual_workspace, registrations, settings)
    controller = manager.add_controller(Controller(NAME, reconciler, workers=workers, metrics=manager.metrics))
    # Status writes come back as updates; only spec/metadata changes need an immediate look, the heartbeat
    # covers the rest. Comparing generations keeps our own status writes from re-triggering probes.
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
    return controller
