"""Watches of TMC's copies on the physical clusters: one informer per (cluster connection, workload kind).

Each informer lists and watches only objects with TMC's managed label, across all namespaces, through the
pooled client of one cluster connection (``tmc.clusters``: one per server and credential), so the number of
watches grows with clusters and kinds, never with workloads. A copy's event enqueues the WorkloadBinding it was
made for (its origin annotations name it), which is how a copy's status reaches the tenant within a second or
two, and how a copy edited or deleted by hand is noticed and restored (the reconcile compares the copy's
generation with the one its own apply produced, so the engine's own writes do not trigger a re-apply).

Watches start on first use by a reconcile and stop with the controller, or with their connection: the cluster
directory closes a connection no registration uses any more (registrations deleted, credentials rotated), and a
closed client can never list or watch again.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Callable
from types import TracebackType
from typing import Any

from tmc.api import binding_name
from tmc.controllers.sync.naming import MANAGED_LABEL, ORIGIN_CLUSTER, ORIGIN_KIND, ORIGIN_NAME, ORIGIN_NAMESPACE
from tmc.controllers.sync.transform import CLUSTER_RESOURCES
from tmc.kcp.rest import JSON, KubeClient
from tmc.runtime import EventHandler, Informer, ObjectKey, RuntimeMetrics

# Kinds whose copies report status worth bringing back (and whose drift is undone by watch).
WATCHED_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Service")


class CopyWatches:
    def __init__(
        self,
        enqueue: Callable[[ObjectKey], None],
        *,
        metrics: RuntimeMetrics | None = None,
        resync_period: float | None = None,
    ) -> None:
        self._enqueue = enqueue
        self._metrics = metrics
        self._resync_period = resync_period
        self._by_connection: dict[int, tuple[KubeClient, dict[str, Informer]]] = {}
        self._closed: weakref.WeakSet[KubeClient] = weakref.WeakSet()
        self._stopping: set[asyncio.Task[None]] = set()

    def informer(self, client: KubeClient, kind: str) -> Informer | None:
        """The synced informer of ``kind`` copies behind ``client``; ``None`` until its first list completed."""
        if kind not in WATCHED_KINDS or client in self._closed:
            return None
        entry = self._by_connection.get(id(client))
        if entry is None or entry[0] is not client:
            entry = (client, self._start(client))
            self._by_connection[id(client)] = entry
        informer = entry[1][kind]
        return informer if informer.has_synced.is_set() else None

    def copy(self, client: KubeClient, kind: str, namespace: str, name: str) -> tuple[bool, JSON | None]:
        """(known, copy): ``known`` is False while the watch has not listed yet (absence means nothing then)."""
        informer = self.informer(client, kind)
        if informer is None:
            return False, None
        return True, informer.get(ObjectKey("", namespace, name))

    def _start(self, client: KubeClient) -> dict[str, Informer]:
        informers = {}
        for (_, kind), resource in CLUSTER_RESOURCES.items():
            if kind not in WATCHED_KINDS:
                continue
            informer = Informer(
                client,
                resource,
                label_selector=f"{MANAGED_LABEL}=true",
                resync_period=self._resync_period,
                metrics=self._metrics,
            )
            informer.add_handler(EventHandler(self._changed, lambda old, new: self._changed(new), self._changed))
            informer.start()
            informers[kind] = informer
        return informers

    def forget(self, client: KubeClient) -> None:
        """``client``'s connection was closed: stop its watches (a reconcile still holding it starts none)."""
        self._closed.add(client)
        entry = self._by_connection.get(id(client))
        if entry is None or entry[0] is not client:
            return
        del self._by_connection[id(client)]
        task = asyncio.create_task(_stop(list(entry[1].values())), name="copy-watches-stop")
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)

    def _changed(self, copy: JSON) -> None:
        annotations = copy.get("metadata", {}).get("annotations") or {}
        cluster, namespace = annotations.get(ORIGIN_CLUSTER), annotations.get(ORIGIN_NAMESPACE)
        kind, name = annotations.get(ORIGIN_KIND), annotations.get(ORIGIN_NAME)
        if cluster and namespace and kind and name:
            self._enqueue(ObjectKey(cluster, namespace, binding_name(kind, name)))

    async def __aenter__(self) -> CopyWatches:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        informers: list[Any] = [i for _, kinds in self._by_connection.values() for i in kinds.values()]
        self._by_connection.clear()
        await _stop(informers)
        await asyncio.gather(*self._stopping)


async def _stop(informers: list[Informer]) -> None:
    for informer in informers:
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await informer.stop()
