"""The one status writer every controller uses.

A reconcile expresses its result as a function from an object to the status it should have
(``desired(obj) -> status | None``), not as a finished status dict, so that the result can be applied again to
a fresher version of the object. ``StatusWriter.write``:

1. computes ``desired(obj)``; when it equals the stored status (or is ``None``) nothing is written
   (outcome ``unchanged``): heartbeats and resyncs cost no writes;
2. checks the fence (``LeaderElector.holds_lease``): a process that is not (or no longer surely) the leader
   raises ``LeadershipLostError`` instead of writing (outcome ``fenced``). ``guard`` is the same check for a
   controller's other writes (the APIExport controller's, which has no status of its own to write);
3. sends a JSON merge patch of just the changed fields (removed fields as ``null``) to the ``status``
   subresource, addressed to the object's own logical cluster (its ``kcp.io/cluster`` annotation), carrying the
   resourceVersion the status was computed from (optimistic concurrency) and this process's field manager
   (so ``managedFields`` show which process wrote what);
4. on ``409 Conflict`` (outcome ``conflict``, counted): reads the object fresh from the same logical cluster and
   goes back to 1 with it, so a result is applied to the current state, never silently dropped; after
   ``max_attempts`` conflicts the ``ConflictError`` propagates and the controller retries the key with backoff;
5. on ``404`` (at any step) the object is gone and there is nothing to write (outcome ``gone``).

Every write is counted in ``tmc_status_writes_total{resource, outcome}``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from tmc.errors import ConflictError, NotFoundError
from tmc.kcp.paths import LogicalClusterPath
from tmc.kcp.resources import Resource
from tmc.runtime.keys import cluster_of
from tmc.runtime.leader import LeadershipLostError
from tmc.runtime.logcontext import get_logger
from tmc.runtime.metrics import RuntimeMetrics

JSON = dict[str, Any]
DesiredStatus = Callable[[JSON], JSON | None]

log = get_logger(__name__)
WRITTEN, UNCHANGED, CONFLICT, GONE, FENCED = "written", "unchanged", "conflict", "gone", "fenced"


class StatusClient(Protocol):
    """What the writer needs of ``tmc.kcp.rest.KubeClient`` (a fake in unit tests)."""

    async def get(
        self,
        resource: Resource,
        name: str,
        *,
        cluster: LogicalClusterPath | None = None,
        namespace: str | None = None,
    ) -> JSON: ...

    async def merge_patch(
        self,
        resource: Resource,
        name: str,
        patch: JSON,
        *,
        cluster: LogicalClusterPath | None = None,
        namespace: str | None = None,
        subresource: str | None = None,
        field_manager: str | None = None,
    ) -> JSON: ...


def merge_patch_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> JSON:
    """The RFC 7386 merge patch that turns ``old`` into ``new`` (lists are replaced whole, as merge patch does)."""
    patch: JSON = {key: None for key in old if key not in new}
    for key, value in new.items():
        before = old.get(key)
        if isinstance(value, Mapping) and isinstance(before, Mapping):
            nested = merge_patch_diff(before, value)
            if nested:
                patch[key] = nested
        elif key not in old or before != value:
            patch[key] = value
    return patch


class StatusWriter:
    def __init__(
        self,
        client: StatusClient,
        *,
        field_manager: str,
        fence: Callable[[], bool] | None = None,
        metrics: RuntimeMetrics | None = None,
        max_attempts: int = 5,
    ) -> None:
        if max_attempts < 1:
            raise ValueError(f"status writer: max_attempts must be >= 1, got {max_attempts}")
        self.client = client
        self.field_manager = field_manager
        self.fence = fence
        self.max_attempts = max_attempts
        self._writes = (metrics if metrics is not None else RuntimeMetrics()).status_writes_total

    def guard(self, resource: Resource, what: str) -> None:
        """Raise ``LeadershipLostError`` unless the fence allows writing now; for a controller's other writes too."""
        if self.fence is not None and not self.fence():
            self._writes.labels(_label(resource), FENCED).inc()
            raise LeadershipLostError(f"refusing to {what}: this process does not hold the lease")

    async def write(self, resource: Resource, obj: JSON, desired: DesiredStatus) -> JSON | None:
        """Bring ``obj``'s status to ``desired(obj)``; returns the object as stored afterwards, None if it is gone."""
        label = _label(resource)
        metadata = obj["metadata"]
        name, namespace = metadata["name"], metadata.get("namespace")
        cluster_name = cluster_of(obj)
        cluster = LogicalClusterPath(cluster_name) if cluster_name else None
        current = obj
        for attempt in range(1, self.max_attempts + 1):
            stored: JSON = current.get("status") or {}
            status = desired(current)
            if status is None or status == stored:
                self._writes.labels(label, UNCHANGED).inc()
                return current
            self.guard(resource, f"write the status of {name}")
            patch = {
                "metadata": {"resourceVersion": current["metadata"]["resourceVersion"]},
                "status": merge_patch_diff(stored, status),
            }
            try:
                written = await self.client.merge_patch(
                    resource,
                    name,
                    patch,
                    cluster=cluster,
                    namespace=namespace,
                    subresource="status",
                    field_manager=self.field_manager,
                )
            except NotFoundError:
                self._writes.labels(label, GONE).inc()
                return None
            except ConflictError:
                self._writes.labels(label, CONFLICT).inc()
                log.info(
                    "status of %s: conflict (attempt %d of %d); retrying on a fresh read",
                    name,
                    attempt,
                    self.max_attempts,
                )
                try:
                    current = await self.client.get(resource, name, cluster=cluster, namespace=namespace)
                except NotFoundError:
                    self._writes.labels(label, GONE).inc()
                    return None
                continue
            self._writes.labels(label, WRITTEN).inc()
            return written
        raise ConflictError(
            409, "Conflict", f"status of {name}: still conflicting after {self.max_attempts} attempts; will retry"
        )


def _label(resource: Resource) -> str:
    return f"{resource.plural}.{resource.group}" if resource.group else resource.plural
