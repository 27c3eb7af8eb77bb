"""Prometheus metrics of the controller runtime, registered on a registry the caller owns.

Every metric lives on one ``CollectorRegistry`` passed in (never the process-global default), so two
managers in one process, and tests, do not collide over metric names. The work queue sees only a small hook
object (``QueueMetrics`` in ``queue.py``), so it stays free of prometheus; the informer, the elector, the
controller and the status writer take a ``RuntimeMetrics`` and use its metrics by name.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Reconciles take milliseconds to seconds; queue waits can grow to the 300 s backoff cap.
_DURATION_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 60.0, 300.0)


class RuntimeMetrics:
    """All runtime metrics on one registry; create one per process (or per test)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.reconcile_total = Counter(
            "tmc_reconcile_total",
            "Reconciles by outcome (success, requeue, error, terminal, cancelled).",
            ["controller", "result"],
            registry=self.registry,
        )
        self.reconcile_errors_total = Counter(
            "tmc_reconcile_errors_total",
            "Reconciles that raised (retried or terminal).",
            ["controller"],
            registry=self.registry,
        )
        self.reconcile_duration_seconds = Histogram(
            "tmc_reconcile_duration_seconds",
            "Time spent in one reconcile.",
            ["controller"],
            buckets=_DURATION_BUCKETS,
            registry=self.registry,
        )
        self.workqueue_depth = Gauge(
            "tmc_workqueue_depth",
            "Keys waiting to be handed to a worker.",
            ["controller"],
            registry=self.registry,
        )
        self.workqueue_latency_seconds = Histogram(
            "tmc_workqueue_latency_seconds",
            "Time from a key being queued to a worker taking it.",
            ["controller"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.workqueue_retries_total = Counter(
            "tmc_workqueue_retries_total",
            "Rate-limited re-adds after a failed reconcile.",
            ["controller"],
            registry=self.registry,
        )
        self.informer_watch_restarts_total = Counter(
            "tmc_informer_watch_restarts_total",
            "Watches re-opened from the last resourceVersion.",
            ["resource"],
            registry=self.registry,
        )
        self.informer_relists_total = Counter(
            "tmc_informer_relists_total",
            "Full relists after the first (410 Gone or an unusable watch).",
            ["resource"],
            registry=self.registry,
        )
        self.informer_watch_stalls_total = Counter(
            "tmc_informer_watch_stalls_total",
            "Watches restarted because nothing (not even a bookmark or the server's close) arrived within the bound.",
            ["resource"],
            registry=self.registry,
        )
        self.informer_errors_total = Counter(
            "tmc_informer_errors_total",
            "Unexpected exceptions (bugs, malformed events) in an informer's list/watch loop; logged with traceback.",
            ["resource"],
            registry=self.registry,
        )
        self.informer_handler_errors_total = Counter(
            "tmc_informer_handler_errors_total",
            "Event handlers that raised; logged with traceback.",
            ["resource"],
            registry=self.registry,
        )
        self.informer_index_errors_total = Counter(
            "tmc_informer_index_errors_total",
            "Objects kept out of the cache because an index function failed on them (readiness fails meanwhile).",
            ["resource", "index"],
            registry=self.registry,
        )
        self.status_writes_total = Counter(
            "tmc_status_writes_total",
            "Status subresource writes by outcome (written, unchanged, conflict, gone, fenced).",
            ["resource", "outcome"],
            registry=self.registry,
        )
        self.leader = Gauge(
            "tmc_leader",
            "1 while this process holds the lease, else 0.",
            ["lease"],
            registry=self.registry,
        )
        self.leader_lost_total = Counter(
            "tmc_leader_lost_total",
            "Times this process stopped leading without choosing to (renew deadline passed or another holder).",
            ["lease"],
            registry=self.registry,
        )

    def queue_metrics(self, controller: str) -> PrometheusQueueMetrics:
        return PrometheusQueueMetrics(self, controller)


class PrometheusQueueMetrics:
    """Implements ``tmc.runtime.queue.QueueMetrics`` for one controller's queue."""

    def __init__(self, metrics: RuntimeMetrics, controller: str) -> None:
        self._depth = metrics.workqueue_depth.labels(controller)
        self._latency = metrics.workqueue_latency_seconds.labels(controller)
        self._retries = metrics.workqueue_retries_total.labels(controller)

    def set_depth(self, depth: int) -> None:
        self._depth.set(depth)

    def observe_latency(self, seconds: float) -> None:
        self._latency.observe(seconds)

    def inc_retries(self) -> None:
        self._retries.inc()
