"""Failover: a cluster stops -> every workload it ran is Ready on another cluster, as its tenant sees it.

Runs last inside a ``bench.sync`` session after its workloads converged (it leaves the cluster stopped). The
cluster holding the most copies has its kube-apiserver stopped (an outage: etcd and its data stay), and the
clock starts at the stop request. A workload has failed over when its WorkloadBinding names only other clusters,
each of them reports the copy applied and Healthy, and the tenant's own Deployment shows every replica
available with a status that differs from the one it showed before the stop (so the old copy's passed-through
status is not mistaken for the new one's). Most of the time is the controller's loss detection: a cluster is
NotReady after ``--grace-period`` of missed heartbeats (``--heartbeat-period`` apart); the bench's controller
runs with the defaults, which it reports.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import Counter
from dataclasses import dataclass, field

from bench.sync import (
    BINDINGS,
    GRACE_S,
    HEARTBEAT_S,
    Observations,
    Session,
    WorkloadKey,
    cancel,
    percentile,
    rolled_out,
    watch_all,
)
from tmc.api import binding_name
from tmc.kcp.paths import ALL_CLUSTERS
from tmc.kcp.resources import DEPLOYMENTS
from tmc.kcp.rest import JSON


@dataclass
class FailoverFigures:
    victim: str
    workloads: int  # the workloads that ran on it
    heartbeat_s: float
    grace_s: float
    lost_s: float  # stop -> the first binding reports the cluster Unknown
    ready_s: dict[WorkloadKey, float] = field(default_factory=dict)  # stop -> Ready elsewhere, per workload

    @property
    def p50(self) -> float:
        return percentile(list(self.ready_s.values()), 50)

    @property
    def all_s(self) -> float:
        return max(self.ready_s.values()) if len(self.ready_s) == self.workloads else math.nan


@dataclass
class _Tracker:
    victim: str
    affected: set[WorkloadKey]
    bindings: dict[WorkloadKey, WorkloadKey]  # binding key -> workload key
    before: dict[WorkloadKey, JSON] = field(default_factory=dict)  # the tenant's status before the stop
    binding: dict[WorkloadKey, JSON] = field(default_factory=dict)
    tenant: dict[WorkloadKey, JSON] = field(default_factory=dict)
    stopped: float | None = None
    lost: float | None = None
    ready: dict[WorkloadKey, float] = field(default_factory=dict)
    finished: asyncio.Event = field(default_factory=asyncio.Event)

    def on_binding(self, event: str, obj: JSON) -> None:
        metadata = obj["metadata"]
        logical = (metadata.get("annotations") or {}).get("kcp.io/cluster", "")
        key = self.bindings.get((logical, metadata.get("namespace", ""), metadata["name"]))
        if key is None or event == "DELETED":
            return
        self.binding[key] = obj
        entries = {e["name"]: e for e in (obj.get("status") or {}).get("clusters", [])}
        if self.stopped is not None and self.lost is None and entries.get(self.victim, {}).get("health") == "Unknown":
            self.lost = time.monotonic()
        self._evaluate(key)

    def on_tenant_object(self, event: str, obj: JSON) -> None:
        metadata = obj["metadata"]
        key = (
            (metadata.get("annotations") or {}).get("kcp.io/cluster", ""),
            metadata.get("namespace", ""),
            metadata["name"],
        )
        if key not in self.affected or event == "DELETED":
            return
        if self.stopped is None:
            self.before[key] = obj.get("status") or {}
        self.tenant[key] = obj
        self._evaluate(key)

    def _evaluate(self, key: WorkloadKey) -> None:
        if self.stopped is None or key in self.ready:
            return
        binding, tenant = self.binding.get(key), self.tenant.get(key)
        if binding is None or tenant is None:
            return
        wanted = {c["name"] for c in (binding.get("spec") or {}).get("clusters", [])}
        entries = {e["name"]: e for e in (binding.get("status") or {}).get("clusters", [])}
        moved = bool(wanted) and self.victim not in wanted
        healthy = all(entries.get(n, {}).get("applied") and entries[n].get("health") == "Healthy" for n in wanted)
        fresh = (tenant.get("status") or {}) != self.before.get(key)
        if moved and healthy and fresh and rolled_out(tenant):
            self.ready[key] = time.monotonic()
            if len(self.ready) == len(self.affected):
                self.finished.set()


async def measure(s: Session, observations: Observations, timeout: float = 600.0) -> FailoverFigures:
    copies = Counter(cluster for _, cluster in observations.seen.values())
    victim = max(sorted(copies), key=lambda name: copies[name])
    affected = {key for key, (_, cluster) in observations.seen.items() if cluster == victim}
    tracker = _Tracker(
        victim,
        affected,
        {(c, ns, binding_name("Deployment", name)): (c, ns, name) for c, ns, name in affected},
    )
    if not affected:
        raise SystemExit("failover: no copy was seen on any cluster, nothing to fail over")
    watchers = await watch_all(
        [
            (s.vw, BINDINGS, tracker.on_binding, ALL_CLUSTERS, None),
            (s.vw, DEPLOYMENTS, tracker.on_tenant_object, ALL_CLUSTERS, None),
        ]
    )
    try:
        print(f"failover: stopping {victim} ({len(affected)} workloads on it)")
        tracker.stopped = time.monotonic()
        await s.physical[victim].stop_apiserver()
        with contextlib.suppress(TimeoutError):  # a timeout leaves some not Ready, which the figures show
            await asyncio.wait_for(tracker.finished.wait(), timeout)
    finally:
        await cancel(watchers)
    stopped = tracker.stopped
    figures = FailoverFigures(
        victim=victim,
        workloads=len(affected),
        heartbeat_s=HEARTBEAT_S,
        grace_s=GRACE_S,
        lost_s=(tracker.lost - stopped) if tracker.lost is not None else math.nan,
        ready_s={key: at - stopped for key, at in tracker.ready.items()},
    )
    print(
        f"failover: {len(figures.ready_s)}/{figures.workloads} Ready elsewhere; {victim} seen lost after"
        f" {figures.lost_s:.1f}s, p50 {figures.p50:.1f}s, all {figures.all_s:.1f}s"
    )
    return figures
