"""Cluster health as metrics: which registrations are not Ready now, computed at scrape time from the cache.

The ClusterRegistration controller writes each registration's ``Ready`` condition (with the grace period for
missed heartbeats); this collector reads those conditions from the registrations informer whenever Prometheus
scrapes, so every replica reports the same, nothing goes stale when leadership moves, and a deleted
registration simply stops appearing. Series of ``tmc_cluster_not_ready`` exist only for registrations that are
not Ready at that moment, so their number is bounded by the clusters in trouble, not by all registrations.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any, Protocol

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from tmc.api.constants import CONDITION_READY
from tmc.runtime.keys import cluster_of

# One liveness request: loopback answers in a millisecond, a far or loaded cluster in seconds, then the deadline.
PROBE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class _Listing(Protocol):
    def list(self, cluster: str | None = None) -> list[dict[str, Any]]: ...


class RegistrationReadiness(Collector):
    def __init__(self, registrations: _Listing) -> None:
        self.registrations = registrations

    def describe(self) -> Iterator[Metric]:
        yield from self._families()

    def collect(self) -> Iterator[Metric]:
        totals, not_ready = self._families()
        by_state: Counter[str] = Counter()
        for registration in self.registrations.list():
            metadata = registration.get("metadata") or {}
            if metadata.get("deletionTimestamp"):
                continue
            status, reason = _ready(registration)
            by_state[status] += 1
            if status != "True":
                not_ready.add_metric([cluster_of(registration), str(metadata.get("name", "")), reason], 1)
        for state in ("True", "False", "Unknown"):
            totals.add_metric([state], by_state[state])
        yield totals
        yield not_ready

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
        totals = GaugeMetricFamily(
            "tmc_cluster_registrations",
            "ClusterRegistrations by the status of their Ready condition (Unknown: not probed yet).",
            labels=["ready"],
        )
        not_ready = GaugeMetricFamily(
            "tmc_cluster_not_ready",
            "1 for each ClusterRegistration whose Ready condition is not True, by tenant logical cluster,"
            " registration name and the condition's reason; no series for Ready ones.",
            labels=["workspace", "cluster", "reason"],
        )
        return totals, not_ready


def _ready(registration: dict[str, Any]) -> tuple[str, str]:
    for condition in (registration.get("status") or {}).get("conditions") or []:
        if condition.get("type") == CONDITION_READY:
            return str(condition.get("status") or "Unknown"), str(condition.get("reason") or "Unknown")
    return "Unknown", "NotProbedYet"
