"""One informer per (client, resource) in a process, however many controllers watch that resource.

Controllers ask for what they watch; the second to ask for the same kind through the same client gets the
first one's informer (and adds its handlers), so one watch and one cache serve them all.
"""

from __future__ import annotations

from tmc.kcp.paths import ALL_CLUSTERS
from tmc.kcp.resources import Resource
from tmc.kcp.rest import KubeClient
from tmc.runtime import Informer, Manager


def shared_informer(
    manager: Manager, client: KubeClient, resource: Resource, *, resync_period: float | None = 60.0
) -> Informer:
    path = resource.path(ALL_CLUSTERS)
    for existing in manager.informers:
        if existing.client is client and existing.path == path:
            return existing
    return manager.add_informer(
        Informer(client, resource, cluster=ALL_CLUSTERS, resync_period=resync_period, metrics=manager.metrics)
    )
