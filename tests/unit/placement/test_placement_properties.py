"""Property tests: invariants that must hold for any clusters, policy and history."""

from __future__ import annotations

from collections import Counter

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tmc.placement import (
    CandidateSet,
    CapabilityRequirement,
    ClusterCandidate,
    DecisionContext,
    DivisionMode,
    LabelSelector,
    PlacementPolicy,
    PlacementResult,
    PlacementStatus,
    Strategy,
    Workload,
    bits,
    decide,
    decide_many,
    scoring,
)
from tmc.placement.engine import _Prepared
from tmc.placement.filters import evaluate

from ._builders import NOW, cluster
from ._strategies import NAMES, cluster_lists, policies

PROPERTIES = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

WORKLOAD_KEY = "ns/web"


def workloads(max_replicas: int = 12) -> st.SearchStrategy[Workload]:
    return st.builds(Workload, st.just(WORKLOAD_KEY), st.integers(0, max_replicas), st.just({"app": "web"}))


def previous_decisions(max_size: int = 4) -> st.SearchStrategy[tuple[tuple[str, int], ...] | None]:
    names = st.lists(st.sampled_from([*NAMES, "gone"]), unique=True, max_size=max_size)
    return st.one_of(st.none(), names.map(lambda ns: tuple((n, 1) for n in ns)))


def group_of(result: PlacementResult) -> int:
    return 0 if result.fallback_group is None else result.fallback_group + 1


def domain(c: ClusterCandidate, policy: PlacementPolicy) -> str:
    key = policy.spread.topology_key
    return c.name if key is None else c.selectable_labels[key]


@PROPERTIES
@given(cluster_lists(), policies(), workloads(), previous_decisions(), st.integers(0, 20))
def test_only_eligible_clusters_are_chosen(
    clusters: list[ClusterCandidate],
    policy: PlacementPolicy,
    workload: Workload,
    previous: tuple[tuple[str, int], ...] | None,
    cursor: int,
) -> None:
    result = decide(clusters, policy, workload, previous, DecisionContext(NOW, cursor))
    by_name = {c.name: c for c in clusters}
    previous_names = {n for n, _ in previous or ()}
    for name, _ in result.decision:
        verdict = evaluate(by_name[name], policy.compiled, group_of(result), workload.key, NOW)
        assert verdict.allows_existing if name in previous_names else verdict.allows_new, name
        assert result.explanations[name].eligible
        assert result.explanations[name].selected


@PROPERTIES
@given(cluster_lists(), policies(), workloads(), previous_decisions(), st.integers(0, 20))
def test_decisions_respect_counts_and_replica_totals(
    clusters: list[ClusterCandidate],
    policy: PlacementPolicy,
    workload: Workload,
    previous: tuple[tuple[str, int], ...] | None,
    cursor: int,
) -> None:
    result = decide(clusters, policy, workload, previous, DecisionContext(NOW, cursor))
    counts = policy.number_of_clusters
    if result.status is not PlacementStatus.SCHEDULED:
        assert result.decision == ()
        return
    upper = (
        counts.max if counts.max is not None else (len(clusters) if policy.strategy is Strategy.SPREAD else counts.min)
    )
    assert counts.min <= len(result.decision) <= upper
    assert [n for n, _ in result.decision] == sorted(n for n, _ in result.decision)
    replicas = [r for _, r in result.decision]
    if policy.replica_division.mode is DivisionMode.DIVIDED:
        assert sum(replicas) == workload.replicas
        assert min(replicas) >= 0
    else:
        assert set(replicas) == {workload.replicas}


@PROPERTIES
@given(cluster_lists(min_size=1), policies(Strategy.SPREAD, lenient=True), workloads(40))
def test_spread_skew_never_exceeds_max_skew(
    clusters: list[ClusterCandidate], policy: PlacementPolicy, workload: Workload
) -> None:
    result = decide(clusters, policy, workload, None, DecisionContext(NOW))
    if result.status is not PlacementStatus.SCHEDULED:
        return
    by_name = {c.name: c for c in clusters}
    per_domain: Counter[str] = Counter()
    for name, replicas in result.decision:
        duplicated = policy.replica_division.mode is DivisionMode.DUPLICATED
        per_domain[domain(by_name[name], policy)] += 1 if duplicated else replicas
    assert max(per_domain.values()) - min(per_domain.values()) <= policy.spread.max_skew
    # With enough cluster budget every domain that has an eligible cluster is covered.
    eligible_domains = {
        domain(c, policy)
        for c in clusters
        if evaluate(c, policy.compiled, group_of(result), workload.key, NOW).allows_new
    }
    budget = policy.number_of_clusters.max
    if budget is None or budget >= len(eligible_domains):
        assert set(per_domain) == eligible_domains


@PROPERTIES
@given(cluster_lists(), policies(), workloads(), previous_decisions(), st.integers(0, 20), st.randoms())
def test_same_input_same_output_whatever_the_cluster_order(
    clusters: list[ClusterCandidate],
    policy: PlacementPolicy,
    workload: Workload,
    previous: tuple[tuple[str, int], ...] | None,
    cursor: int,
    random: object,
) -> None:
    first = decide(clusters, policy, workload, previous, DecisionContext(NOW, cursor))
    shuffled = list(clusters)
    random.shuffle(shuffled)  # type: ignore[attr-defined]
    second = decide(shuffled, policy, workload, previous, DecisionContext(NOW, cursor))
    assert first == second  # includes every cluster's explanation


def _flip_ready(c: ClusterCandidate) -> ClusterCandidate:
    return ClusterCandidate(
        name=c.name,
        location=c.location,
        labels=c.labels,
        effective_capabilities=c.effective_capabilities,
        ready=not c.ready,
        not_ready_since=None if not c.ready else NOW - 5,
        unschedulable=c.unschedulable,
        taints=c.taints,
        allocatable_cpu_millis=c.allocatable_cpu_millis,
        allocatable_memory_bytes=c.allocatable_memory_bytes,
        hosted_workloads=c.hosted_workloads,
    )


@PROPERTIES
@given(cluster_lists(min_size=1), policies(lenient=True), workloads(), previous_decisions(), st.data())
def test_unrelated_cluster_changes_never_change_a_decision(
    clusters: list[ClusterCandidate],
    policy: PlacementPolicy,
    workload: Workload,
    previous: tuple[tuple[str, int], ...] | None,
    data: st.DataObject,
) -> None:
    before = decide(clusters, policy, workload, previous, DecisionContext(NOW))
    assume(before.status is PlacementStatus.SCHEDULED)
    chosen = {n for n, _ in before.decision}
    others = [c for c in clusters if c.name not in chosen]
    changes = []
    if others:
        flipped = data.draw(st.sampled_from(others))
        changes.append([_flip_ready(c) if c is flipped else c for c in clusters])
    newcomer = cluster("zz-new", "us-west-2", labels={"region": "us-west", "zone": "a"})
    changes.append([*clusters, newcomer])
    for changed in changes:
        after = decide(changed, policy, workload, before.decision, DecisionContext(NOW))
        assert after.decision == before.decision


@PROPERTIES
@given(cluster_lists(min_size=1), policies(tolerations=False, lenient=True), workloads(), st.data())
def test_a_chosen_cluster_going_not_ready_is_replaced(
    clusters: list[ClusterCandidate], policy: PlacementPolicy, workload: Workload, data: st.DataObject
) -> None:
    before = decide(clusters, policy, workload, None, DecisionContext(NOW))
    assume(before.status is PlacementStatus.SCHEDULED)
    victim = data.draw(st.sampled_from([n for n, _ in before.decision]))
    changed = [_flip_ready(c) if c.name == victim else c for c in clusters]
    after = decide(changed, policy, workload, before.decision, DecisionContext(NOW))
    assert victim not in after.replicas_by_cluster
    spread_duplicated = policy.strategy is Strategy.SPREAD and policy.replica_division.mode is DivisionMode.DUPLICATED
    if after.status is PlacementStatus.SCHEDULED and not spread_duplicated and group_of(after) == group_of(before):
        # Only the broken cluster is replaced: everything else stays.
        assert set(before.replicas_by_cluster) - {victim} <= set(after.replicas_by_cluster)


@PROPERTIES
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["us-west", "us-east", None]),
            st.booleans(),
            st.booleans(),
            st.sampled_from(["us-west-2", "us-east-1"]),
        ),
        max_size=10,
    ),
    st.integers(1, 20),
)
def test_seed_case_spread_us_west_with_compute(specs: list[tuple[str | None, bool, bool, str]], replicas: int) -> None:
    clusters = [
        cluster(
            f"c{i}",
            location,
            labels={"region": region} if region else {},
            caps=("compute",) if compute else (),
            ready=ready,
            not_ready_since=NOW - 1,
        )
        for i, (region, ready, compute, location) in enumerate(specs)
    ]
    policy = PlacementPolicy(
        Strategy.SPREAD,
        location_selector=LabelSelector({"region": "us-west"}),
        capability_requirements=(CapabilityRequirement("compute", required=True),),
    )
    result = decide(clusters, policy, Workload("ns/app", replicas), None, DecisionContext(NOW))
    expected = {
        c.name
        for c, (region, ready, compute, _) in zip(clusters, specs, strict=True)
        if region == "us-west" and ready and compute
    }
    assert set(result.replicas_by_cluster) == expected
    assert (result.status is PlacementStatus.SCHEDULED) is bool(expected)
    for c, (region, _, _, location) in zip(clusters, specs, strict=True):
        if region is None:
            reasons = [r.message for r in result.explanations[c.name].reasons]
            assert f"label region: cluster has no such label (labels: tmc.kcp.io/location={location})" in reasons


@PROPERTIES
@given(cluster_lists(), policies(), st.lists(workloads(), max_size=5, unique_by=lambda w: w.replicas), st.data())
def test_decide_many_equals_sequential_decide(
    clusters: list[ClusterCandidate], policy: PlacementPolicy, batch: list[Workload], data: st.DataObject
) -> None:
    batch = [Workload(f"ns/w{w.replicas}", w.replicas, w.labels) for w in batch]
    previous = {w.key: data.draw(previous_decisions()) for w in batch}
    context = DecisionContext(NOW, data.draw(st.integers(0, 9)))
    many = decide_many(clusters, policy, batch, previous, context)
    cursor = context.round_robin_cursor
    for workload in sorted(batch, key=lambda w: w.key):
        single = decide(clusters, policy, workload, previous[workload.key], DecisionContext(NOW, cursor))
        assert many.results[workload.key] == single
        cursor = single.round_robin_cursor
    assert many.round_robin_cursor == cursor


@PROPERTIES
@given(cluster_lists(), policies(), st.sampled_from(["ns/web", "ns/db", "ns/cache"]))
def test_bulk_eligibility_agrees_with_the_per_cluster_filters(
    clusters: list[ClusterCandidate], policy: PlacementPolicy, workload_key: str
) -> None:
    candidates = CandidateSet(clusters)
    prepared = _Prepared(candidates, policy, NOW)
    for group in range(len(policy.compiled.location_groups)):
        eligibility = candidates.eligibility(policy.compiled, group)
        new_ok = eligibility.mask & ~prepared.anti_blocked(workload_key)
        assert sum(n for _, n in eligibility.rejected) == len(clusters) - eligibility.mask.bit_count()
        for i, c in enumerate(candidates.clusters):
            verdict = evaluate(c, policy.compiled, group, workload_key, NOW)
            assert bool(new_ok >> i & 1) is verdict.allows_new, c
            assert prepared.allows_existing(i, group) is verdict.allows_existing, c


@PROPERTIES
@given(cluster_lists(), policies(), st.sampled_from(["ns/web", "ns/db"]), st.sets(st.sampled_from(NAMES)))
def test_bulk_scores_agree_with_the_per_cluster_breakdown(
    clusters: list[ClusterCandidate], policy: PlacementPolicy, workload_key: str, previous: set[str]
) -> None:
    candidates = CandidateSet(clusters)
    prepared = _Prepared(candidates, policy, NOW)
    previous_mask = bits.from_indices(
        [i for i, c in enumerate(candidates.clusters) if c.name in previous], len(clusters)
    )
    classes = prepared.classes_for(workload_key, previous_mask)
    for i, c in enumerate(candidates.clusters):
        expected = scoring.breakdown(c, policy.compiled, prepared.capacity_max, workload_key, c.name in previous)
        assert scoring.score_of(classes, i) == expected.total, c


@PROPERTIES
@given(cluster_lists(min_size=1), st.integers(0, 30))
def test_round_robin_picks_the_cursor_position_among_sorted_eligible_clusters(
    clusters: list[ClusterCandidate], cursor: int
) -> None:
    clusters = [ClusterCandidate(c.name, c.location, c.labels, c.effective_capabilities, c.ready) for c in clusters]
    policy = PlacementPolicy(Strategy.ROUND_ROBIN)
    result = decide(clusters, policy, Workload("ns/w"), None, DecisionContext(NOW, cursor))
    eligible = sorted(c.name for c in clusters if c.ready)
    assume(eligible)
    assert result.clusters == (eligible[cursor % len(eligible)],)
    assert result.round_robin_cursor == (cursor % len(eligible) + 1) % len(eligible)
