"""Prometheus metrics of the sync engine: apply latency, applies, apply errors, drift, leaks, failing bindings.

The reconciler calls one small method per outcome (``SyncMetrics``); nothing here decides anything. Every
metric lives on the registry the caller owns (the Manager's, so ``/metrics`` serves it); without one, a private
registry, as in unit tests.

**What ``tmc_sync_apply_latency_seconds`` measures.** For one (WorkloadBinding, cluster) whose copies were all
applied with no problem: the time from the newest change TMC can see in kcp to the moment the last object was
applied on that cluster. "The newest change" is the latest ``metadata.managedFields[].time`` (outside the
``status`` subresource), or ``creationTimestamp`` if newer, across the WorkloadBinding (the placement's choice of
clusters and replicas), the workload and every dependency applied with it. So it covers placement writing the
binding, the watch delivering it, the queue wait, the reconcile and the applies, and retries while the cluster
was unreachable: it is the tenant's view of sync lag. Caveats, all by design: kcp records whole seconds (the
buckets start at 1 s); clock skew between kcp and TMC shifts it (negative values count as 0); a later change
that made no difference to the copies (an annotation TMC does not copy) restarts the clock, so it is a lower
bound; a drift correction (the copy was edited on the cluster, nothing changed upstream) is not observed.

**Label cardinality.** ``cluster`` is the ClusterRegistration's *name* (not its workspace): tenants reuse names
such as ``us-west-1``, so one series adds up every tenant's registration of that name, and the number of series
is bounded by the number of distinct registration names times the reasons (a fixed set: the cluster-health
reasons of ``tmc.clusters`` and the sync reasons ``Conflict``, ``Rejected``, ``ClusterError``, ``Unreachable``,
``NamespaceConflict``, ``DependencyMissing``). Per-tenant numbers come from ``BindingCollector`` instead, which
exports series only for workspaces that have failing bindings at the moment of the scrape.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from tmc.api.constants import CONDITION_APPLIED
from tmc.runtime import Informer
from tmc.runtime.keys import cluster_of

JSON = dict[str, Any]

# Whole seconds (kcp's managedFields resolution) up to a long outage (the cleanup timeout is 2 minutes).
LATENCY_BUCKETS = (1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
# Applied=False reasons that are not failures: the binding is being removed, or placement chose nothing yet.
NOT_FAILING = frozenset({"Removing", "NotPlaced"})


class SyncMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.apply_latency_seconds = Histogram(
            "tmc_sync_apply_latency_seconds",
            "Seconds from the newest change in kcp (binding, workload or dependency managedFields time) to all of"
            " a binding's copies applied on one cluster; see docs/operations.md.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.copies_applied_total = Counter(
            "tmc_sync_copies_applied_total",
            "Objects (workload copies and their dependencies) server-side applied on a cluster.",
            ["cluster"],
            registry=self.registry,
        )
        self.apply_errors_total = Counter(
            "tmc_sync_apply_errors_total",
            "Objects or clusters a sync attempt could not bring up to date, by registration name and reason.",
            ["cluster", "reason"],
            registry=self.registry,
        )
        self.drift_corrections_total = Counter(
            "tmc_sync_drift_corrections_total",
            "Copies edited or deleted on a cluster by someone else and restored by TMC.",
            ["cluster"],
            registry=self.registry,
        )
        self.cleanup_leaks_total = Counter(
            "tmc_sync_cleanup_leaks_total",
            "Objects left on a cluster because it stayed unreachable past the cleanup timeout (or its registration"
            " was deleted); recorded in the registration's status.orphanedCopies.",
            ["cluster"],
            registry=self.registry,
        )

    def unavailable(self, cluster: str, reason: str) -> None:
        """Nothing could be tried on ``cluster`` (no usable connection, or its namespace is refused)."""
        self.apply_errors_total.labels(cluster, reason).inc()

    def drift_corrected(self, cluster: str) -> None:
        self.drift_corrections_total.labels(cluster).inc()

    def applied(
        self,
        cluster: str,
        applied: int,
        problems: Sequence[tuple[str, str]],
        sources: Iterable[JSON | None],
        *,
        now: float,
        drifted: bool = False,
    ) -> None:
        """One apply pass on ``cluster``: ``applied`` objects succeeded, ``problems`` are (reason, message) of the
        rest; ``sources`` are the kcp objects the copies came from (binding, workload, dependencies)."""
        if applied:
            self.copies_applied_total.labels(cluster).inc(applied)
        for reason, count in Tally(reason for reason, _ in problems).items():
            self.apply_errors_total.labels(cluster, reason).inc(count)
        if problems or drifted:
            return
        changed = last_change(sources)
        if changed is not None:
            self.apply_latency_seconds.observe(max(0.0, now - changed))

    def leaked(self, cluster: str, objects: int) -> None:
        self.cleanup_leaks_total.labels(cluster).inc(objects)


def last_change(objects: Iterable[JSON | None]) -> float | None:
    """The newest ``managedFields[].time`` outside the status subresource (or ``creationTimestamp``) of ``objects``
    in seconds since the epoch; ``None`` if none of them says."""
    moments: list[float] = []
    for obj in objects:
        if obj is None:
            continue
        metadata = obj.get("metadata") or {}
        for entry in metadata.get("managedFields") or []:
            if entry.get("subresource") == "status":
                continue
            moment = _parse_time(entry.get("time"))
            if moment is not None:
                moments.append(moment)
        created = _parse_time(metadata.get("creationTimestamp"))
        if created is not None:
            moments.append(created)
    return max(moments) if moments else None


def _parse_time(value: object) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


class BindingCollector(Collector):
    """Counts WorkloadBindings by their Applied condition at scrape time, from the informer's cache.

    Computed from the cache rather than counted by the reconciler, so every replica (leader or warm standby)
    reports the same numbers, a former leader's numbers never go stale, and nothing must be forgotten when a
    binding goes away. One pass over the cache per scrape.
    """

    def __init__(self, bindings: Informer) -> None:
        self.bindings = bindings

    def describe(self) -> Iterator[Metric]:
        yield from self._families()

    def collect(self) -> Iterator[Metric]:
        totals, failing = self._families()
        by_state: Tally[str] = Tally()
        by_workspace: Tally[tuple[str, str]] = Tally()
        for binding in self.bindings.list():
            status, reason = _applied(binding)
            by_state[status] += 1
            if status == "False" and reason not in NOT_FAILING:
                by_workspace[(cluster_of(binding), reason)] += 1
        for state in ("True", "False", "Unknown"):
            totals.add_metric([state], by_state[state])
        for (workspace, reason), count in sorted(by_workspace.items()):
            failing.add_metric([workspace, reason], count)
        yield totals
        yield failing

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
        totals = GaugeMetricFamily(
            "tmc_sync_bindings",
            "WorkloadBindings in the cache by the status of their Applied condition (Unknown: none yet).",
            labels=["applied"],
        )
        failing = GaugeMetricFamily(
            "tmc_sync_bindings_failing",
            "WorkloadBindings whose Applied condition is False (not Removing/NotPlaced), by tenant logical cluster"
            " and reason; series exist only for workspaces failing now.",
            labels=["workspace", "reason"],
        )
        return totals, failing


def _applied(binding: JSON) -> tuple[str, str]:
    for condition in (binding.get("status") or {}).get("conditions") or []:
        if condition.get("type") == CONDITION_APPLIED:
            return str(condition.get("status") or "Unknown"), str(condition.get("reason") or "")
    return "Unknown", ""
