"""Status latency at rest: a copy's status changes on its cluster -> the tenant's own object shows the change.

Runs inside a ``bench.sync`` session after its workloads converged, so nothing else is moving. For each sampled
workload in turn, the bench writes a condition of its own (type ``BenchStatusProbe``, a fresh message) into the
copy's status on its cluster, through the status subresource, as a cluster's controller would, and waits for
the tenant's Deployment in kcp, watched through the virtual workspace, to carry that message. With one cluster
per workload TMC passes the copy's status through whole, so the condition travels the way ``readyReplicas``
does; the cluster's deployment controller keeps conditions it does not own. Measured from sending the status
write (its own round trip, a few milliseconds, included) to the watch event in kcp.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from bench.sync import Observations, Session, WorkloadKey, cancel, percentile, watch_all
from tmc.controllers.sync.naming import Locator
from tmc.errors import ConflictError
from tmc.kcp.paths import ALL_CLUSTERS
from tmc.kcp.resources import DEPLOYMENTS
from tmc.kcp.rest import JSON, KubeClient

PROBE = "BenchStatusProbe"


@dataclass(frozen=True)
class StatusFigures:
    latencies_ms: list[float]
    missed: int  # probes the tenant's object did not show within the timeout

    @property
    def p50(self) -> float:
        return percentile(self.latencies_ms, 50)

    @property
    def p99(self) -> float:
        return percentile(self.latencies_ms, 99)

    @property
    def worst(self) -> float:
        return max(self.latencies_ms) if self.latencies_ms else math.nan


def sample(keys: list[WorkloadKey], count: int) -> list[WorkloadKey]:
    """``count`` keys spread evenly over the sorted list, so every workspace and cluster gets its turn."""
    ordered = sorted(keys)
    if count >= len(ordered):
        return ordered
    step = len(ordered) / count
    return [ordered[int(i * step)] for i in range(count)]


def probe_message(obj: JSON) -> str | None:
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == PROBE:
            return str(condition.get("message", ""))
    return None


async def write_probe(cluster: KubeClient, namespace: str, name: str, message: str) -> float:
    """Put the probe condition into the copy's status; returns when the accepted write was sent. Retried on a
    conflict (the cluster's deployment controller writes the same status)."""
    for _ in range(10):
        copy = await cluster.get(DEPLOYMENTS, name, namespace=namespace)
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        status = copy.setdefault("status", {})
        status["conditions"] = [c for c in status.get("conditions") or [] if c.get("type") != PROBE] + [
            {
                "type": PROBE,
                "status": "True",
                "reason": "Probe",
                "message": message,
                "lastUpdateTime": now,
                "lastTransitionTime": now,
            }
        ]
        sent = time.monotonic()
        try:
            await cluster.replace(DEPLOYMENTS, copy, subresource="status")
        except ConflictError:
            continue
        return sent
    raise SystemExit(f"could not write the status of {namespace}/{name}: 10 conflicts in a row")


async def measure(s: Session, observations: Observations, samples: int, timeout: float = 60.0) -> StatusFigures:
    keys = sample([k for k in observations.expected if k in observations.seen], samples)
    waiting: dict[WorkloadKey, tuple[str, asyncio.Future[float]]] = {}

    def on_tenant_object(event: str, obj: JSON) -> None:
        metadata = obj["metadata"]
        key = (
            (metadata.get("annotations") or {}).get("kcp.io/cluster", ""),
            metadata.get("namespace", ""),
            metadata["name"],
        )
        entry = waiting.get(key)
        if entry is not None and not entry[1].done() and probe_message(obj) == entry[0]:
            entry[1].set_result(time.monotonic())

    direct = {name: KubeClient(c.access) for name, c in s.physical.items()}
    latencies: list[float] = []
    missed = 0
    watchers = await watch_all([(s.vw, DEPLOYMENTS, on_tenant_object, ALL_CLUSTERS, None)])
    try:
        for number, key in enumerate(keys):
            cluster = observations.seen[key][1]
            namespace = Locator(key[0], key[1], observations.registrations[cluster]).physical_namespace
            message = f"probe {number} at {time.time_ns()}"
            shown: asyncio.Future[float] = asyncio.get_running_loop().create_future()
            waiting[key] = (message, shown)
            sent = await write_probe(direct[cluster], namespace, key[2], message)
            try:
                latencies.append((await asyncio.wait_for(shown, timeout) - sent) * 1000)
            except TimeoutError:
                missed += 1
            del waiting[key]
    finally:
        await cancel(watchers)
        for c in direct.values():
            await c.close()
    figures = StatusFigures(latencies, missed)
    print(
        f"status at rest: {len(latencies)}/{len(keys)} probes shown in the tenant's object; p50 {figures.p50:.0f} ms,"
        f" p99 {figures.p99:.0f} ms, max {figures.worst:.0f} ms"
    )
    return figures
