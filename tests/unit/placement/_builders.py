"""Small builders so tests state only what matters to them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

from tmc.placement import (
    CandidateSet,
    CapabilityRequirement,
    ClusterCandidate,
    DecisionContext,
    HostedWorkload,
    LabelSelector,
    LabelSelectorRequirement,
    NumberOfClusters,
    PlacementPolicy,
    PlacementResult,
    SelectorOperator,
    Strategy,
    Taint,
    TaintEffect,
    Workload,
    decide,
)

NOW = 1_000.0


def cluster(
    name: str,
    location: str = "loc-1",
    *,
    labels: Mapping[str, str] | None = None,
    caps: Iterable[str] = ("compute",),
    ready: bool = True,
    not_ready_since: float | None = None,
    unschedulable: bool = False,
    taints: Sequence[Taint] = (),
    cpu: int | None = None,
    memory: int | None = None,
    hosts: Mapping[str, Mapping[str, str]] | None = None,
) -> ClusterCandidate:
    return ClusterCandidate(
        name=name,
        location=location,
        labels=labels or {},
        effective_capabilities=frozenset(caps),
        ready=ready,
        not_ready_since=not_ready_since if not ready else None,
        unschedulable=unschedulable,
        taints=tuple(taints),
        allocatable_cpu_millis=cpu,
        allocatable_memory_bytes=memory,
        hosted_workloads=tuple(HostedWorkload(k, v) for k, v in (hosts or {}).items()),
    )


def taint(key: str, effect: str, value: str = "", since: float | None = None) -> Taint:
    return Taint(key, value, TaintEffect(effect), since)


def sel(labels: Mapping[str, str] | None = None, *exprs: tuple[str, str, Sequence[str]]) -> LabelSelector:
    return LabelSelector(
        labels or {},
        tuple(LabelSelectorRequirement(k, cast(SelectorOperator, op), tuple(v)) for k, op, v in exprs),
    )


def policy(
    strategy: str = "RoundRobin",
    *,
    min_clusters: int = 1,
    max_clusters: int | None = None,
    caps: Sequence[str] = (),
    **kwargs: Any,
) -> PlacementPolicy:
    return PlacementPolicy(
        Strategy(strategy),
        number_of_clusters=NumberOfClusters(min_clusters, max_clusters),
        capability_requirements=tuple(CapabilityRequirement(c) for c in caps),
        **kwargs,
    )


def run(
    clusters: Iterable[ClusterCandidate] | CandidateSet,
    pol: PlacementPolicy,
    replicas: int = 1,
    previous: Sequence[tuple[str, int]] | None = None,
    *,
    cursor: int = 0,
    now: float = NOW,
    key: str = "apps/v1/Deployment/ns/web",
    labels: Mapping[str, str] | None = None,
) -> PlacementResult:
    workload = Workload(key, replicas, labels or {})
    return decide(clusters, pol, workload, tuple(previous) if previous else None, DecisionContext(now, cursor))


def names(result: PlacementResult) -> list[str]:
    return [name for name, _ in result.decision]
