"""From kcp objects (JSON) to the placement engine's plain inputs, and from its results to status.

The engine knows nothing of kcp; this is the only place where API field names meet engine fields.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from tmc.api.quantity import parse_bytes, parse_cpu_millis
from tmc.api.workload_placement import WorkloadPlacementSpec
from tmc.placement import (
    Affinity,
    CapabilityRequirement,
    ClusterCandidate,
    LabelSelector,
    LabelSelectorRequirement,
    NumberOfClusters,
    PlacementPolicy,
    PreferredTerm,
    ReplicaDivision,
    SpreadConstraint,
    StaticWeight,
    Taint,
    Toleration,
    Workload,
)

JSON = dict[str, Any]


def selector(value: Any) -> LabelSelector:
    if value is None:
        return LabelSelector()
    data = value if isinstance(value, dict) else value.to_dict()
    return LabelSelector(
        match_labels=dict(data.get("matchLabels") or {}),
        match_expressions=tuple(
            LabelSelectorRequirement(e["key"], e["operator"], tuple(e.get("values") or ()))
            for e in data.get("matchExpressions") or ()
        ),
    )


def policy_of(placement: JSON) -> PlacementPolicy:
    spec = WorkloadPlacementSpec.model_validate(placement.get("spec", {}))
    affinity = spec.affinity
    return PlacementPolicy(
        strategy=spec.strategy,  # type: ignore[arg-type]
        location_selector=selector(spec.location_selector),
        capability_requirements=tuple(CapabilityRequirement(r.type, r.required) for r in spec.capability_requirements),
        number_of_clusters=NumberOfClusters(spec.number_of_clusters.min, spec.number_of_clusters.max),
        affinity=Affinity(
            required=tuple(selector(s) for s in affinity.required),
            preferred=tuple(PreferredTerm(p.weight, selector(p.selector)) for p in affinity.preferred),
            workload_affinity=selector(affinity.workload_affinity) if affinity.workload_affinity else None,
            workload_anti_affinity=selector(affinity.workload_anti_affinity)
            if affinity.workload_anti_affinity
            else None,
        )
        if affinity
        else Affinity(),
        spread=SpreadConstraint(spec.spread.topology_key, spec.spread.max_skew) if spec.spread else SpreadConstraint(),
        fallback_groups=tuple(selector(group.location_selector) for group in spec.fallback_groups),
        tolerations=tuple(
            Toleration(t.key or "", t.operator, t.value or "", t.effect, t.toleration_seconds)  # type: ignore[arg-type]
            for t in spec.tolerations
        ),
        replica_division=ReplicaDivision(
            spec.replica_division.mode,  # type: ignore[arg-type]
            spec.replica_division.weighting,  # type: ignore[arg-type]
            tuple(
                StaticWeight(w.cluster_name or selector(w.cluster_selector), w.weight)
                for w in spec.replica_division.static_weights
            ),
        ),
    )


def _timestamp(value: Any) -> float | None:
    """An RFC 3339 time from status (any form the schema's date-time allows), or None when it is unusable."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _quantity(value: Any, parse: Callable[[str], int]) -> int | None:
    """A capacity from status, or None (capacity unknown, which the engine handles) when it is absent or unusable:
    negative, or past 2^63-1. A registration's status is written by TMC, but a tenant can write it too, and an
    exception here would fail every reconcile of the workspace's placements."""
    if not value:
        return None
    try:
        parsed = parse(str(value))
    except ValueError:
        return None
    return parsed if parsed >= 0 else None


def candidate_of(registration: JSON) -> ClusterCandidate:
    spec, status = registration.get("spec", {}), registration.get("status") or {}
    ready = next((c for c in status.get("conditions", []) if c.get("type") == "Ready"), None)
    is_ready = bool(ready and ready.get("status") == "True")
    effective = {c["type"] for c in status.get("capabilities", []) if c.get("available")}
    if not status.get("capabilities"):
        # Not probed yet: only what the user declared (the cluster is not Ready anyway).
        effective = {c["type"] for c in spec.get("capabilities", []) if c.get("available", True)}
    allocatable = status.get("allocatable") or {}

    return ClusterCandidate(
        name=registration["metadata"]["name"],
        location=spec.get("location", ""),
        labels=dict(registration["metadata"].get("labels") or {}),
        effective_capabilities=frozenset(effective),
        ready=is_ready,
        not_ready_since=None if is_ready or ready is None else _timestamp(ready.get("lastTransitionTime")),
        unschedulable=bool(spec.get("unschedulable", False)),
        taints=tuple(Taint(t["key"], t.get("value") or "", t["effect"]) for t in spec.get("taints", [])),
        allocatable_cpu_millis=_quantity(allocatable.get("cpu"), parse_cpu_millis),
        allocatable_memory_bytes=_quantity(allocatable.get("memory"), parse_bytes),
    )


def workload_key(workload: JSON) -> str:
    metadata = workload["metadata"]
    api_version, kind = workload.get("apiVersion", "apps/v1"), workload.get("kind", "Deployment")
    return f"{api_version}/{kind}/{metadata.get('namespace', '')}/{metadata['name']}"


def workload_of(workload: JSON) -> Workload:
    replicas = workload.get("spec", {}).get("replicas")
    return Workload(
        workload_key(workload), 1 if replicas is None else int(replicas), dict(workload["metadata"].get("labels") or {})
    )
