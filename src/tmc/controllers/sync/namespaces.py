"""The namespace janitor: a physical namespace goes only when nothing TMC manages is left in it.

Keyed by (logical cluster, tenant namespace, registration). Runs a grace delay after the sync engine removed
the last copy it knew of, and only once the caches have synced (controllers start after their informers). It
deletes nothing while any binding of that namespace still names the registration, nothing whose locator is
not exactly its own, and nothing that still holds an object carrying TMC's managed label.
"""

from __future__ import annotations

from tmc.clusters import ClusterUnavailable
from tmc.controllers.sync.clusters import ClusterClients
from tmc.controllers.sync.naming import MANAGED_LABEL, Locator
from tmc.controllers.sync.transform import CLUSTER_RESOURCES
from tmc.errors import ApiError, ConflictError, NotFoundError
from tmc.kcp.paths import LogicalClusterPath
from tmc.kcp.resources import NAMESPACES
from tmc.runtime import BY_CLUSTER, Informer, ObjectKey, Result, get_logger

log = get_logger(__name__)


class NamespaceJanitor:
    def __init__(self, bindings: Informer, clusters: ClusterClients, *, retry_after: float = 30.0) -> None:
        self.bindings = bindings
        self.clusters = clusters
        self.retry_after = retry_after

    def still_named(self, key: ObjectKey) -> bool:
        for binding in self.bindings.by_index(BY_CLUSTER, key.cluster):
            if binding["metadata"].get("namespace") != key.namespace:
                continue
            named = {c.get("name") for c in binding.get("spec", {}).get("clusters", [])}
            named |= {c.get("name") for c in (binding.get("status") or {}).get("clusters", [])}
            if key.name in named:
                return True
        return False

    async def reconcile(self, key: ObjectKey) -> Result:
        if self.still_named(key):
            return Result()
        locator = Locator(key.cluster, key.namespace, key.name)
        name = locator.physical_namespace
        try:
            client = await self.clusters.client_for(LogicalClusterPath(key.cluster), key.name)
        except ClusterUnavailable:
            return Result(requeue_after=self.retry_after)
        try:
            namespace = await client.get(NAMESPACES, name)
        except NotFoundError:
            return Result()
        if not locator.owns(namespace) or namespace["metadata"].get("deletionTimestamp"):
            return Result()
        for resource in CLUSTER_RESOURCES.values():
            try:
                listing = await client.list(
                    resource, namespace=name, label_selector=f"{MANAGED_LABEL}=true", params={"limit": 1}
                )
            except NotFoundError:
                continue  # the cluster does not serve this kind
            if listing.get("items"):
                return Result()
        body = {
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "preconditions": {"uid": namespace["metadata"]["uid"]},
            "propagationPolicy": "Background",
        }
        try:
            await client.request("DELETE", NAMESPACES.path(None, name=name), body=body)
        except (NotFoundError, ConflictError):
            return Result()
        except ApiError as exc:
            log.warning("deleting empty namespace %s on %s failed: %s", name, key.name, exc.message)
            raise
        log.info("deleted empty namespace %s on %s (origin %s)", name, key.name, key)
        return Result()
