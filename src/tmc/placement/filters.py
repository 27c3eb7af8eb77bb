"""Filter stages, one cluster at a time: the reference semantics of eligibility.

Each stage returns a :class:`FilterResult` - the strongest effect it found and
the reasons behind it - never a bare bool. Effects distinguish two questions:

* may the cluster *receive* the workload?  (blocked by ``BLOCKS_NEW`` and ``BLOCKS_ALL``)
* may the cluster *keep* a workload it already has?  (blocked by ``BLOCKS_ALL`` only)

so, e.g., a cordoned cluster or an untolerated ``NoSchedule`` taint stops new
placements but leaves existing ones alone, while an untolerated ``NoExecute``
taint removes them.

A NotReady cluster is treated as carrying the taint
``tmc.kcp.io/not-ready:NoExecute`` since ``not_ready_since``. It never receives
new placements; existing ones stay only while a matching toleration lasts.
A bounded (``tolerationSeconds``) NoExecute toleration likewise only protects
existing placements: placing something new where it is due for eviction would
be churn. An unknown start time (``None``) counts as already expired for
bounded tolerations - the engine cannot prove the grace period is still running.

The engine evaluates eligibility in bulk with bitsets
(:mod:`tmc.placement.index`); these functions produce the explanations and are
the oracle the bulk path is tested against.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from tmc.placement.policy import CompiledPolicy
from tmc.placement.selectors import CompiledSelector, describe, format_labels
from tmc.placement.types import (
    NOT_READY_TAINT_KEY,
    ClusterCandidate,
    Reason,
    ReasonCode,
    ReasonEffect,
    Taint,
    TaintEffect,
    Toleration,
)

PREFER_NO_SCHEDULE_PENALTY = 100
"""Score subtracted per untolerated PreferNoSchedule taint (see :mod:`tmc.placement.scoring`)."""

_SEVERITY = {ReasonEffect.INFO: 0, ReasonEffect.BLOCKS_NEW: 1, ReasonEffect.BLOCKS_ALL: 2}
NOT_READY_TAINT = Taint(NOT_READY_TAINT_KEY, "", TaintEffect.NO_EXECUTE)


@dataclass(frozen=True, slots=True)
class FilterResult:
    effect: ReasonEffect
    reasons: tuple[Reason, ...]

    @property
    def allows_new(self) -> bool:
        return self.effect is ReasonEffect.INFO

    @property
    def allows_existing(self) -> bool:
        return self.effect is not ReasonEffect.BLOCKS_ALL


PASS = FilterResult(ReasonEffect.INFO, ())


def _result(reasons: Sequence[Reason]) -> FilterResult:
    if not reasons:
        return PASS
    effect = max((r.effect for r in reasons), key=_SEVERITY.__getitem__)
    return FilterResult(effect, tuple(reasons))


def combine(results: Sequence[FilterResult]) -> FilterResult:
    return _result([reason for result in results for reason in result.reasons])


def _t(seconds: float) -> str:
    return f"t={seconds:g}"


# ------------------------------------------------------------------------ taints


class TaintTreatment(enum.Enum):
    TOLERATED = "tolerated"
    PENALISED = "penalised"
    BLOCKS_NEW = "blocks-new"
    BLOCKS_ALL = "blocks-all"
    TEMPORARY = "temporary"
    """NoExecute tolerated for a bounded time: blocks new, keeps existing until it expires."""


def taint_treatment(taint: Taint, tolerations: Sequence[Toleration]) -> tuple[TaintTreatment, float | None]:
    """How ``tolerations`` treat ``taint``, plus the grace period for ``TEMPORARY``.

    With several matching NoExecute tolerations the shortest bounded one wins and
    the taint is tolerated forever only if none is bounded (Kubernetes' rule).
    """
    matching = [t for t in tolerations if t.tolerates(taint)]
    if taint.effect is TaintEffect.PREFER_NO_SCHEDULE:
        return (TaintTreatment.TOLERATED if matching else TaintTreatment.PENALISED), None
    if taint.effect is TaintEffect.NO_SCHEDULE:
        return (TaintTreatment.TOLERATED if matching else TaintTreatment.BLOCKS_NEW), None
    if not matching:
        return TaintTreatment.BLOCKS_ALL, None
    bounded = [t.toleration_seconds for t in matching if t.toleration_seconds is not None]
    if not bounded:
        return TaintTreatment.TOLERATED, None
    return TaintTreatment.TEMPORARY, min(bounded)


def _expiry(since: float | None, seconds: float) -> float | None:
    return None if since is None else since + seconds


def check_ready(cluster: ClusterCandidate, tolerations: Sequence[Toleration], now: float) -> FilterResult:
    if cluster.ready:
        return PASS
    since = cluster.not_ready_since
    head = "cluster is not Ready" + (f" since {_t(since)}" if since is not None else "")
    treatment, seconds = taint_treatment(NOT_READY_TAINT, tolerations)
    if treatment is TaintTreatment.BLOCKS_ALL:
        message = f"{head}; treated as tainted {NOT_READY_TAINT} and no toleration matches"
        return _result([Reason(ReasonCode.NOT_READY, message, ReasonEffect.BLOCKS_ALL)])
    if treatment is TaintTreatment.TOLERATED:
        message = f"{head}; new placements never go to NotReady clusters, existing ones stay (tolerated)"
        return _result([Reason(ReasonCode.NOT_READY, message, ReasonEffect.BLOCKS_NEW)])
    assert seconds is not None
    expiry = _expiry(since, seconds)
    if expiry is None or expiry <= now:
        until = "the start time is unknown" if expiry is None else f"it expired at {_t(expiry)}"
        message = f"{head}; toleration of {NOT_READY_TAINT} for {seconds:g}s no longer applies: {until}"
        return _result([Reason(ReasonCode.NOT_READY_TOLERATION_EXPIRED, message, ReasonEffect.BLOCKS_ALL)])
    message = f"{head}; no new placements, existing ones tolerated until {_t(expiry)} ({seconds:g}s)"
    return _result([Reason(ReasonCode.NOT_READY, message, ReasonEffect.BLOCKS_NEW)])


def check_schedulable(cluster: ClusterCandidate) -> FilterResult:
    if not cluster.unschedulable:
        return PASS
    message = "cluster is marked unschedulable (cordoned): no new placements, existing ones stay"
    return _result([Reason(ReasonCode.UNSCHEDULABLE, message, ReasonEffect.BLOCKS_NEW)])


def check_taints(cluster: ClusterCandidate, tolerations: Sequence[Toleration], now: float) -> FilterResult:
    reasons = []
    for taint in cluster.taints:
        treatment, seconds = taint_treatment(taint, tolerations)
        if treatment is TaintTreatment.TOLERATED:
            continue
        if treatment is TaintTreatment.PENALISED:
            message = f"taint {taint} is not tolerated: score -{PREFER_NO_SCHEDULE_PENALTY}"
            reasons.append(Reason(ReasonCode.TAINT_PREFER_NO_SCHEDULE, message, ReasonEffect.INFO))
        elif treatment is TaintTreatment.BLOCKS_NEW:
            message = f"taint {taint} is not tolerated: no new placements, existing ones stay"
            reasons.append(Reason(ReasonCode.TAINT_NOT_TOLERATED, message, ReasonEffect.BLOCKS_NEW))
        elif treatment is TaintTreatment.BLOCKS_ALL:
            message = f"taint {taint} is not tolerated"
            reasons.append(Reason(ReasonCode.TAINT_NOT_TOLERATED, message, ReasonEffect.BLOCKS_ALL))
        else:
            assert seconds is not None
            expiry = _expiry(taint.time_added, seconds)
            if expiry is None or expiry <= now:
                until = "the taint's start time is unknown" if expiry is None else f"expired at {_t(expiry)}"
                message = f"taint {taint} was tolerated for {seconds:g}s, {until}"
                reasons.append(Reason(ReasonCode.TAINT_TOLERATION_EXPIRED, message, ReasonEffect.BLOCKS_ALL))
            else:
                message = f"taint {taint} is tolerated until {_t(expiry)}: no new placements, existing ones stay"
                reasons.append(Reason(ReasonCode.TAINT_TOLERATED_TEMPORARILY, message, ReasonEffect.BLOCKS_NEW))
    return _result(reasons)


# ---------------------------------------------------------------- label-based stages


def check_capabilities(cluster: ClusterCandidate, required: frozenset[str]) -> FilterResult:
    missing = required - cluster.effective_capabilities
    if not missing:
        return PASS
    available = ", ".join(sorted(cluster.effective_capabilities)) or "none"
    return _result(
        [
            Reason(
                ReasonCode.CAPABILITY_MISSING,
                f"required capability {capability} is not available (available: {available})",
            )
            for capability in sorted(missing)
        ]
    )


def check_topology(cluster: ClusterCandidate, topology_key: str | None) -> FilterResult:
    if topology_key is None or topology_key in cluster.selectable_labels:
        return PASS
    message = (
        f"spread topologyKey {topology_key}: cluster has no such label "
        f"(labels: {format_labels(cluster.selectable_labels)})"
    )
    return _result([Reason(ReasonCode.TOPOLOGY_KEY_MISSING, message)])


def check_location(cluster: ClusterCandidate, selector: CompiledSelector) -> FilterResult:
    return _result(
        [
            Reason(ReasonCode.LOCATION_SELECTOR_MISMATCH, message)
            for message in selector.explain(cluster.selectable_labels)
        ]
    )


def check_required_affinity(cluster: ClusterCandidate, terms: Sequence[CompiledSelector]) -> FilterResult:
    if not terms:
        return PASS
    failures = []
    for i, term in enumerate(terms):
        mismatches = term.explain(cluster.selectable_labels)
        if not mismatches:
            return PASS
        failures.append(f"term[{i}]: " + "; ".join(mismatches))
    message = "no required affinity term matches: " + " | ".join(failures)
    return _result([Reason(ReasonCode.REQUIRED_AFFINITY_MISMATCH, message)])


def hosted_matches(cluster: ClusterCandidate, selector: CompiledSelector, workload_key: str) -> list[str]:
    """Keys of other workloads on ``cluster`` whose labels match ``selector``."""
    return [
        hosted.key
        for hosted in cluster.hosted_workloads
        if hosted.key != workload_key and selector.matches(hosted.labels)
    ]


def check_workload_anti_affinity(
    cluster: ClusterCandidate, selector: CompiledSelector | None, workload_key: str
) -> FilterResult:
    if selector is None:
        return PASS
    keys = hosted_matches(cluster, selector, workload_key)
    if not keys:
        return PASS
    message = (
        f"hosts workload(s) matching workloadAntiAffinity ({describe(selector)}): {', '.join(sorted(keys))}; "
        "no new placements, existing ones stay"
    )
    return _result([Reason(ReasonCode.WORKLOAD_ANTI_AFFINITY, message, ReasonEffect.BLOCKS_NEW)])


# ------------------------------------------------------------------------- all stages


def evaluate(
    cluster: ClusterCandidate, policy: CompiledPolicy, group: int, workload_key: str, now: float
) -> FilterResult:
    """Run every stage (no short-circuit) so an explanation lists every problem at once.

    ``allows_new`` / ``allows_existing`` of the result answer the two eligibility questions.
    """
    return combine(
        [
            check_ready(cluster, policy.tolerations, now),
            check_schedulable(cluster),
            check_taints(cluster, policy.tolerations, now),
            check_capabilities(cluster, policy.required_capabilities),
            check_topology(cluster, policy.topology_key),
            check_location(cluster, policy.location_groups[group]),
            check_required_affinity(cluster, policy.required_terms),
            check_workload_anti_affinity(cluster, policy.workload_anti_affinity, workload_key),
        ]
    )


def next_toleration_expiry(
    clusters: Sequence[ClusterCandidate], tolerations: Sequence[Toleration], now: float
) -> float | None:
    """The earliest future moment a tolerated NotReady state or NoExecute taint stops being tolerated.

    A placement decided now is still right until then; at that moment a decision may change, so the
    controller looks again exactly then instead of waiting for an unrelated event.
    """
    moments: list[float] = []
    for cluster in clusters:
        if not cluster.ready:
            treatment, seconds = taint_treatment(NOT_READY_TAINT, tolerations)
            expiry = _expiry(cluster.not_ready_since, seconds) if seconds is not None else None
            if treatment is TaintTreatment.TEMPORARY and expiry is not None and expiry > now:
                moments.append(expiry)
        for taint in cluster.taints:
            if taint.effect is not TaintEffect.NO_EXECUTE:
                continue
            treatment, seconds = taint_treatment(taint, tolerations)
            expiry = _expiry(taint.time_added, seconds) if seconds is not None else None
            if treatment is TaintTreatment.TEMPORARY and expiry is not None and expiry > now:
                moments.append(expiry)
    return min(moments) if moments else None
