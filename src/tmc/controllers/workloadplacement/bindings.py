"""A placement's decisions as WorkloadBindings: one per placed workload, in the workload's namespace.

The placement controller is the only writer of a binding's ``spec`` (field manager ``tmc-placement``). A binding
is created with the sync finalizer already on it, so the sync engine never applies a copy that has no record; it
is deleted when its workload stops being selected or its placement goes, and the sync engine's finalizer keeps it
until the copies it applied are cleaned up.

Two placements selecting the same workload: the binding that exists stays with the placement that created it;
the other placement reports the workload as claimed elsewhere (deterministic, no flapping between owners).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from tmc.api import WORKLOAD_BINDING, binding_name, placement_label
from tmc.api.constants import PLACEMENT_LABEL, SYNC_FINALIZER
from tmc.errors import ApiError, ConflictError, ForbiddenError, NotFoundError
from tmc.kcp.events import record_event
from tmc.kcp.paths import LogicalClusterPath
from tmc.kcp.resources import resource_of
from tmc.kcp.rest import JSON, KubeClient

BINDINGS = resource_of(WORKLOAD_BINDING)
FIELD_MANAGER = "tmc-placement"
WRITE_CONCURRENCY = 16


@dataclass(frozen=True, slots=True)
class DesiredBinding:
    workload: JSON
    clusters: tuple[tuple[str, int | None], ...]
    fallback_group: int | None
    purge_mode: str = "Graceful"

    @property
    def name(self) -> str:
        return binding_name(self.workload["kind"], self.workload["metadata"]["name"])

    def spec(self, placement: str) -> JSON:
        metadata = self.workload["metadata"]
        spec: JSON = {
            "workload": {
                "apiVersion": self.workload["apiVersion"],
                "kind": self.workload["kind"],
                "namespace": metadata["namespace"],
                "name": metadata["name"],
            },
            "placement": placement,
            "clusters": [
                {"name": name, **({"replicas": replicas} if replicas is not None else {})}
                for name, replicas in self.clusters
            ],
        }
        if self.fallback_group is not None:
            spec["fallbackGroup"] = self.fallback_group
        spec["purgeMode"] = self.purge_mode
        return spec


def previous_decision(binding: JSON | None) -> tuple[tuple[str, int], ...] | None:
    if binding is None:
        return None
    return tuple((c["name"], int(c.get("replicas") or 0)) for c in binding.get("spec", {}).get("clusters", []))


def sticky(placement: JSON) -> bool:
    """Whether earlier decisions are kept (``rebalance: Never``, and always for RoundRobin)."""
    spec = placement.get("spec", {})
    return bool(spec.get("rebalance", "Never") != "OnClusterChange" or spec.get("strategy") == "RoundRobin")


def claimed_elsewhere(binding: JSON | None, placement: str) -> str | None:
    """The other placement that owns ``binding``, if any."""
    if binding is None or binding.get("metadata", {}).get("deletionTimestamp"):
        return None
    owner = (binding["metadata"].get("labels") or {}).get(PLACEMENT_LABEL)
    if not owner or owner == placement_label(placement):
        return None
    return placement_of(binding)


def placement_of(binding: JSON) -> str | None:
    """The WorkloadPlacement that decided ``binding``: ``spec.placement`` when its label agrees, else the label."""
    label = (binding["metadata"].get("labels") or {}).get(PLACEMENT_LABEL)
    named = (binding.get("spec") or {}).get("placement")
    if isinstance(named, str) and named and placement_label(named) == label:
        return named
    return label or None


def _terminating(exc: ForbiddenError) -> bool:
    """kcp refuses new objects in a namespace being deleted (cause ``NamespaceTerminating``)."""
    return any(cause.get("reason") == "NamespaceTerminating" for cause in exc.causes)


class BindingWriter:
    """Creates, updates and deletes one placement's bindings so they equal the desired set."""

    def __init__(self, client: KubeClient) -> None:
        self.client = client

    async def converge(
        self,
        cluster: LogicalClusterPath,
        namespace: str,
        placement: str,
        desired: list[DesiredBinding],
        existing: list[JSON],
    ) -> None:
        """``existing``: the bindings of this placement (by label) in the namespace, from the cache."""
        by_name = {b["metadata"]["name"]: b for b in existing}
        work = []
        for item in desired:
            current = by_name.pop(item.name, None)
            work.append(functools.partial(self._converge_one, cluster, namespace, placement, item, current))
        for stale in by_name.values():
            if not stale["metadata"].get("deletionTimestamp"):
                work.append(functools.partial(self._delete, cluster, namespace, stale["metadata"]["name"]))
        # Independent objects: written concurrently (bounded), so the 50th binding does not wait for 49 round trips.
        # Each write is started only when its turn comes: a cancelled turn leaves no coroutine never awaited.
        limit = asyncio.Semaphore(WRITE_CONCURRENCY)

        async def bounded(step: Callable[[], Awaitable[None]]) -> None:
            async with limit:
                await step()

        await asyncio.gather(*(bounded(step) for step in work))

    async def _converge_one(
        self, cluster: LogicalClusterPath, namespace: str, placement: str, item: DesiredBinding, current: JSON | None
    ) -> None:
        spec = item.spec(placement)
        if current is None:
            body = {
                "apiVersion": WORKLOAD_BINDING.api_version,
                "kind": WORKLOAD_BINDING.kind,
                "metadata": {
                    "name": item.name,
                    "namespace": namespace,
                    "labels": {PLACEMENT_LABEL: placement_label(placement)},
                    "finalizers": [SYNC_FINALIZER],
                },
                "spec": spec,
            }
            # A binding another writer just created is picked up by the next reconcile from the cache.
            try:
                await self.client.create(BINDINGS, body, cluster=cluster, namespace=namespace)
            except ConflictError:
                return
            except ForbiddenError as exc:
                if _terminating(exc):
                    return  # the namespace goes with its workloads and this placement: nothing to place
                raise
            await self._placed(cluster, item, "Placed")
        elif current.get("spec") != spec and not current["metadata"].get("deletionTimestamp"):
            await self._patch_spec(cluster, namespace, item.name, spec)
            if current.get("spec", {}).get("clusters") != spec["clusters"]:
                await self._placed(cluster, item, "Replaced")

    async def _delete(self, cluster: LogicalClusterPath, namespace: str, name: str) -> None:
        with contextlib.suppress(NotFoundError):
            await self.client.delete(BINDINGS, name, cluster=cluster, namespace=namespace)

    async def _placed(self, cluster: LogicalClusterPath, item: DesiredBinding, reason: str) -> None:
        where = ", ".join(f"{name}({replicas})" if replicas is not None else name for name, replicas in item.clusters)
        message = f"placed on {where}" if where else "no cluster fits"
        with contextlib.suppress(ApiError):  # an event is a courtesy, never a reason to fail the placement
            await record_event(self.client, cluster, item.workload, event_type="Normal", reason=reason, message=message)

    async def delete_all(self, cluster: LogicalClusterPath, namespace: str, existing: list[JSON]) -> None:
        await self.converge(cluster, namespace, "", [], existing)

    async def _patch_spec(self, cluster: LogicalClusterPath, namespace: str, name: str, spec: dict[str, Any]) -> None:
        # A merge patch replaces lists whole, which is what a new decision means.
        with contextlib.suppress(NotFoundError):
            await self.client.merge_patch(BINDINGS, name, {"spec": spec}, cluster=cluster, namespace=namespace)
