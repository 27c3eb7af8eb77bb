"""The namespace janitor: a physical namespace goes only when nothing TMC manages is left in it.

Keyed by (logical cluster, tenant namespace, registration). Runs a grace delay after the sync engine removed
the last copy it knew of, and only once the caches have synced (controllers start after their informers). It
deletes nothing while any binding of that namespace still names the registration, nothing whose locator is
not exactly its own, and nothing that still holds an object of a synced kind other than what Kubernetes puts in
every namespace: copies TMC manages, copies a tenant orphaned (``Orphan`` deletion policy drops TMC's label, the
objects must live on) and anything a cluster admin added.
"""

from __future__ import annotations

from tmc.clusters import ClusterUnavailable
from tmc.controllers.sync.clusters import ClusterClients
from tmc.controllers.sync.naming import MANAGED_LABEL, Locator
from tmc.controllers.sync.transform import CLUSTER_RESOURCES, JSON
from tmc.errors import ApiError, ConflictError, NotFoundError
from tmc.kcp.paths import LogicalClusterPath
from tmc.kcp.resources import NAMESPACES
from tmc.runtime import BY_CLUSTER, Informer, ObjectKey, Result, get_logger

log = get_logger(__name__)

# More than the defaults a namespace can hold (kube-root-ca.crt, the default ServiceAccount and, on old
# clusters, its token Secret), so one page answers "anything else?".
_LIST_LIMIT = 8


def _namespace_default(kind: str, item: JSON) -> bool:
    """What Kubernetes itself creates in every namespace; never a reason to keep one."""
    if MANAGED_LABEL in (item["metadata"].get("labels") or {}):
        return False
    name = item["metadata"].get("name")
    if kind == "ConfigMap":
        return bool(name == "kube-root-ca.crt")
    if kind == "ServiceAccount":
        return bool(name == "default")
    if kind == "Secret":
        return bool(item.get("type") == "kubernetes.io/service-account-token")
    return False


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
                listing = await client.list(resource, namespace=name, params={"limit": _LIST_LIMIT})
            except NotFoundError:
                continue  # the cluster does not serve this kind
            if listing.get("metadata", {}).get("continue") or not all(
                _namespace_default(resource.kind, item) for item in listing.get("items", [])
            ):
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
