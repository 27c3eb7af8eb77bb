"""Cluster scores: integer sums of independent components, so they are exact and deterministic.

==========================  =====================================================
component                   value
==========================  =====================================================
preferred affinity          sum of weights (1..100) of matching preferred terms
workload affinity           +100 if the cluster hosts another workload matching
                            ``workloadAffinity``
preferred capabilities      +10 per available non-required capability
capacity                    0..10: ``5*cpu//max_cpu + 5*mem//max_mem``, relative
                            to the largest allocatable in the candidate set
PreferNoSchedule penalty    -100 per untolerated PreferNoSchedule taint
stickiness                  +100 if the cluster is in the previous decision
==========================  =====================================================

Capacity is normalised over the whole candidate set rather than the eligible
subset so a cluster's score does not change when an unrelated cluster flips
eligibility.

Two evaluations exist. :func:`breakdown` scores one cluster and is what
explanations show. For ranking thousands of clusters the engine instead keeps
*score classes*: a map ``score -> bitset of clusters with that score``, built
by :func:`refine` one component at a time. The number of classes is bounded by
the number of distinct score values (tens), not by the number of clusters, and
walking classes from the highest score while taking lowest bits first yields
clusters in ``(-score, name)`` order.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from tmc.placement.filters import PREFER_NO_SCHEDULE_PENALTY, TaintTreatment, taint_treatment
from tmc.placement.policy import CompiledPolicy
from tmc.placement.selectors import CompiledSelector
from tmc.placement.types import ClusterCandidate, ScoreBreakdown

WORKLOAD_AFFINITY_WEIGHT = 100
PREFERRED_CAPABILITY_WEIGHT = 10
CAPACITY_WEIGHT_PER_RESOURCE = 5
STICKINESS_BONUS = 100

ScoreClasses = dict[int, int]
"""``score -> bitset`` of clusters having exactly that score."""


def capacity_score(cluster: ClusterCandidate, max_cpu: int, max_memory: int) -> int:
    score = 0
    if cluster.allocatable_cpu_millis and max_cpu:
        score += CAPACITY_WEIGHT_PER_RESOURCE * cluster.allocatable_cpu_millis // max_cpu
    if cluster.allocatable_memory_bytes and max_memory:
        score += CAPACITY_WEIGHT_PER_RESOURCE * cluster.allocatable_memory_bytes // max_memory
    return score


def prefer_no_schedule_count(cluster: ClusterCandidate, policy: CompiledPolicy) -> int:
    return sum(
        1 for taint in cluster.taints if taint_treatment(taint, policy.tolerations)[0] is TaintTreatment.PENALISED
    )


def hosts_matching(cluster: ClusterCandidate, selector: CompiledSelector | None, workload_key: str) -> bool:
    if selector is None:
        return False
    return any(hosted.key != workload_key and selector.matches(hosted.labels) for hosted in cluster.hosted_workloads)


def breakdown(
    cluster: ClusterCandidate,
    policy: CompiledPolicy,
    capacity_max: tuple[int, int],
    workload_key: str,
    in_previous: bool,
) -> ScoreBreakdown:
    labels = cluster.selectable_labels
    return ScoreBreakdown(
        preferred_affinity=sum(weight for weight, term in policy.preferred_terms if term.matches(labels)),
        workload_affinity=(
            WORKLOAD_AFFINITY_WEIGHT if hosts_matching(cluster, policy.workload_affinity, workload_key) else 0
        ),
        preferred_capabilities=PREFERRED_CAPABILITY_WEIGHT
        * sum(1 for c in policy.optional_capabilities if c in cluster.effective_capabilities),
        capacity=capacity_score(cluster, *capacity_max),
        prefer_no_schedule_penalty=PREFER_NO_SCHEDULE_PENALTY * prefer_no_schedule_count(cluster, policy),
        stickiness=STICKINESS_BONUS if in_previous else 0,
    )


# ------------------------------------------------------------------ score classes


def refine(classes: Mapping[int, int], weight: int, mask: int) -> ScoreClasses:
    """Add ``weight`` to the score of every cluster in ``mask``."""
    if not weight or not mask:
        return dict(classes)
    out: ScoreClasses = {}
    for score, members in classes.items():
        hit = members & mask
        if hit:
            out[score + weight] = out.get(score + weight, 0) | hit
            members &= ~mask
        if members:
            out[score] = out.get(score, 0) | members
    return out


def refine_levels(classes: Mapping[int, int], levels: Mapping[int, int]) -> ScoreClasses:
    """Add ``level`` to the score of the clusters in ``levels[level]`` (the level masks are disjoint)."""
    out: ScoreClasses = dict(classes)
    for level, mask in levels.items():
        out = refine(out, level, mask)
    return out


def restrict(classes: Mapping[int, int], mask: int) -> ScoreClasses:
    return {score: members & mask for score, members in classes.items() if members & mask}


def score_of(classes: Mapping[int, int], index: int) -> int | None:
    probe = 1 << index
    for score, members in classes.items():
        if members & probe:
            return score
    return None


def ranked(classes: Mapping[int, int], within: int) -> Iterator[tuple[int, int]]:
    """Yield ``(score, index)`` for clusters in ``within``, best first, ties by index (name)."""
    for score in sorted(classes, reverse=True):
        members = classes[score] & within
        while members:
            low = members & -members
            yield score, low.bit_length() - 1
            members ^= low
