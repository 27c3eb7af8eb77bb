"""Strategies, cluster counts, fallback groups and re-placement, through ``decide``."""

from __future__ import annotations

import pytest

from tmc.placement import (
    Affinity,
    DecisionContext,
    DivisionMode,
    LabelSelector,
    PlacementPolicy,
    PlacementStatus,
    PreferredTerm,
    ReasonCode,
    ReplicaDivision,
    SpreadConstraint,
    Weighting,
    Workload,
    decide,
    decide_many,
)

from ._builders import cluster, names, policy, run, sel, taint

FIVE = [cluster(n) for n in "edcba"]  # deliberately unsorted


# ------------------------------------------------------------------ RoundRobin


@pytest.mark.parametrize(
    ("cursor", "count", "expected", "new_cursor"),
    [
        pytest.param(0, 1, ["a"], 1, id="cursor 0 picks the first cluster by name"),
        pytest.param(3, 1, ["d"], 4, id="cursor 3 picks the fourth cluster"),
        pytest.param(7, 1, ["c"], 3, id="the cursor wraps modulo the eligible count"),
        pytest.param(4, 2, ["a", "e"], 1, id="several clusters continue across the wrap"),
    ],
)
def test_round_robin_starts_at_the_cursor(cursor: int, count: int, expected: list[str], new_cursor: int) -> None:
    result = run(FIVE, policy(min_clusters=count), cursor=cursor)
    assert names(result) == expected
    assert result.round_robin_cursor == new_cursor


def test_round_robin_keeps_a_valid_previous_decision_and_does_not_advance() -> None:
    result = run(FIVE, policy(), previous=[("d", 1)], cursor=0)
    assert names(result) == ["d"]
    assert result.round_robin_cursor == 0


def test_round_robin_skips_prefer_no_schedule_clusters_while_others_suffice() -> None:
    clusters = [cluster("a", taints=[taint("spot", "PreferNoSchedule")]), cluster("b")]
    assert names(run(clusters, policy(), cursor=0)) == ["b"]
    assert names(run(clusters, policy(min_clusters=2))) == ["a", "b"]


def test_decide_many_threads_the_cursor_in_workload_key_order() -> None:
    workloads = [Workload(f"ns/w{i}", 1) for i in (3, 1, 2)]
    batch = decide_many(FIVE, policy(), workloads, {}, DecisionContext(0, 1))
    assert list(batch.results) == ["ns/w1", "ns/w2", "ns/w3"]
    assert [names(r) for r in batch] == [["b"], ["c"], ["d"]]
    assert batch.round_robin_cursor == 4


# -------------------------------------------------------------------- Affinity


def preferring(*terms: tuple[int, dict[str, str]], required: tuple[LabelSelector, ...] = ()) -> Affinity:
    return Affinity(required=required, preferred=tuple(PreferredTerm(w, sel(labels)) for w, labels in terms))


def test_affinity_picks_the_highest_score() -> None:
    clusters = [
        cluster("a", labels={"ssd": "yes"}),
        cluster("b", labels={"ssd": "yes", "gpu": "yes"}),
        cluster("c"),
    ]
    pol = policy("Affinity", affinity=preferring((10, {"ssd": "yes"}), (20, {"gpu": "yes"})))
    result = run(clusters, pol)
    assert names(result) == ["b"]
    score = result.explanations["b"].score
    assert score is not None
    assert score.preferred_affinity == 30
    assert result.explanations["a"].reasons[-1].code is ReasonCode.NOT_SELECTED


def test_affinity_breaks_ties_by_name() -> None:
    assert names(run([cluster("z"), cluster("m"), cluster("q")], policy("Affinity"))) == ["m"]


def test_affinity_ranks_by_capacity_when_nothing_else_differs() -> None:
    clusters = [cluster("a", cpu=1000, memory=1), cluster("b", cpu=8000, memory=8)]
    assert names(run(clusters, policy("Affinity"))) == ["b"]


def test_affinity_prefers_co_location_with_matching_workloads() -> None:
    clusters = [cluster("a"), cluster("b", hosts={"ns/cache": {"app": "cache"}})]
    pol = policy("Affinity", affinity=Affinity(workload_affinity=sel({"app": "cache"})))
    result = run(clusters, pol)
    assert names(result) == ["b"]
    assert result.explanations["b"].score is not None
    assert result.explanations["b"].score.workload_affinity == 100


def test_affinity_is_sticky_while_required_terms_still_hold() -> None:
    clusters = [cluster("a", labels={"tier": "gold"}), cluster("b", labels={"tier": "gold", "ssd": "yes"})]
    pol = policy("Affinity", affinity=preferring((50, {"ssd": "yes"}), required=(sel({"tier": "gold"}),)))
    assert names(run(clusters, pol, previous=[("a", 1)])) == ["a"]
    demoted = [cluster("a", labels={"tier": "bronze"}), clusters[1]]
    assert names(run(demoted, pol, previous=[("a", 1)])) == ["b"]


def test_prefer_no_schedule_costs_score() -> None:
    clusters = [cluster("a", taints=[taint("spot", "PreferNoSchedule")]), cluster("b")]
    result = run(clusters, policy("Affinity"))
    assert names(result) == ["b"]
    assert result.explanations["a"].score is not None
    assert result.explanations["a"].score.prefer_no_schedule_penalty == 100


# ---------------------------------------------------------------------- Spread


def test_spread_uses_every_eligible_cluster_by_default() -> None:
    result = run(FIVE, policy("Spread"), replicas=7)
    assert result.decision == (("a", 2), ("b", 2), ("c", 1), ("d", 1), ("e", 1))


def test_spread_balances_topology_domains_not_clusters() -> None:
    clusters = [cluster("w1", "west"), cluster("w2", "west"), cluster("w3", "west"), cluster("e1", "east")]
    result = run(clusters, policy("Spread"), replicas=6)
    assert dict(result.decision) == {"e1": 3, "w1": 1, "w2": 1, "w3": 1}


def test_spread_covers_domains_before_doubling_up() -> None:
    clusters = [cluster("w1", "west"), cluster("w2", "west"), cluster("e1", "east"), cluster("n1", "north")]
    result = run(clusters, policy("Spread", max_clusters=3), replicas=3)
    assert names(result) == ["e1", "n1", "w1"]


def test_spread_over_a_custom_topology_label_filters_clusters_without_it() -> None:
    clusters = [cluster("a", labels={"zone": "z1"}), cluster("b", labels={"zone": "z2"}), cluster("c")]
    result = run(clusters, policy("Spread", spread=SpreadConstraint("zone")), replicas=4)
    assert result.decision == (("a", 2), ("b", 2))
    assert result.explanations["c"].reasons[0].code is ReasonCode.TOPOLOGY_KEY_MISSING


def test_spread_with_capacity_weights_is_held_within_max_skew() -> None:
    clusters = [cluster("big", "west", cpu=90_000), cluster("small", "east", cpu=10_000)]
    capacity = ReplicaDivision(weighting=Weighting.CAPACITY)
    tight = policy("Spread", replica_division=capacity, spread=SpreadConstraint(max_skew=2))
    assert dict(run(clusters, tight, replicas=10).decision) == {"big": 6, "small": 4}
    loose = policy("Spread", replica_division=capacity, spread=SpreadConstraint(max_skew=100))
    assert dict(run(clusters, loose, replicas=10).decision) == {"big": 9, "small": 1}


def test_spread_duplicated_caps_clusters_per_domain_by_max_skew() -> None:
    clusters = [cluster("w1", "west"), cluster("w2", "west"), cluster("w3", "west"), cluster("e1", "east")]
    result = run(clusters, policy("Spread", replica_division=ReplicaDivision(DivisionMode.DUPLICATED)), replicas=3)
    assert result.decision == (("e1", 3), ("w1", 3), ("w2", 3))


def test_spread_without_topology_key_spreads_over_clusters() -> None:
    result = run(FIVE, policy("Spread", max_clusters=2, spread=SpreadConstraint(None)), replicas=3)
    assert result.decision == (("a", 2), ("b", 1))


# ------------------------------------------------ counts and fallback groups


def test_fewer_eligible_than_min_is_unschedulable_with_a_reason() -> None:
    result = run(FIVE[:2], policy("Affinity", min_clusters=3))
    assert result.status is PlacementStatus.UNSCHEDULABLE
    assert result.decision == ()
    assert result.message.startswith("need at least 3 cluster(s) (numberOfClusters.min)")
    assert "spec.locationSelector: 2 of 2 eligible" in result.message


def test_no_eligible_clusters_summarises_why() -> None:
    clusters = [cluster("a", "us-east-1"), cluster("b", ready=False, not_ready_since=0)]
    result = run(clusters, policy(location_selector=sel({"tmc.kcp.io/location": "us-west-2"})))
    assert result.status is PlacementStatus.NO_ELIGIBLE_CLUSTERS
    assert result.message == (
        "no eligible clusters: spec.locationSelector: 0 of 2 eligible (NotReady: 1, LocationSelectorMismatch: 1)"
    )


def test_max_clusters_caps_affinity_and_round_robin() -> None:
    assert len(run(FIVE, policy("Affinity", max_clusters=3)).decision) == 3
    assert len(run(FIVE, policy("RoundRobin", min_clusters=2, max_clusters=4)).decision) == 4


def test_fallback_groups_are_tried_in_order_when_min_cannot_be_met() -> None:
    clusters = [cluster("w1", "west"), cluster("e1", "east"), cluster("e2", "east"), cluster("n1", "north")]
    pol = policy(
        "Spread",
        min_clusters=2,
        location_selector=sel({"tmc.kcp.io/location": "west"}),
        fallback_groups=(sel({"tmc.kcp.io/location": "north"}), sel({"tmc.kcp.io/location": "east"})),
    )
    result = run(clusters, pol)
    assert names(result) == ["e1", "e2"]
    assert result.fallback_group == 1
    assert "using spec.fallbackGroups[1]" in result.message
    assert (
        run(clusters, policy("Spread", location_selector=sel({"tmc.kcp.io/location": "east"}))).fallback_group is None
    )


def test_a_valid_fallback_decision_is_kept_when_the_primary_recovers() -> None:
    pol = policy(location_selector=sel({"tmc.kcp.io/location": "west"}), fallback_groups=(sel({}),))
    recovered = [cluster("e1", "east"), cluster("w1", "west")]
    result = run(recovered, pol, previous=[("e1", 1)])
    assert names(result) == ["e1"]
    assert result.fallback_group == 0


# ---------------------------------------------------------------- re-placement


def test_only_the_cluster_that_became_ineligible_is_replaced() -> None:
    before = run(FIVE, policy("Spread", max_clusters=3), replicas=3)
    assert names(before) == ["a", "b", "c"]
    after_clusters = [cluster("b", ready=False, not_ready_since=0), *[c for c in FIVE if c.name != "b"]]
    after = run(after_clusters, policy("Spread", max_clusters=3), replicas=3, previous=before.decision)
    assert names(after) == ["a", "c", "d"]
    assert "replaced cluster(s) no longer eligible: b" in after.message


@pytest.mark.parametrize(
    "pol",
    [
        pytest.param(policy("RoundRobin", min_clusters=2), id="RoundRobin"),
        pytest.param(policy("Affinity", min_clusters=2), id="Affinity"),
        pytest.param(policy("Spread", max_clusters=2), id="Spread"),
    ],
)
def test_re_placement_keeps_survivors_that_could_not_be_chosen_anew(pol: PlacementPolicy) -> None:
    clusters = [
        cluster("a", unschedulable=True),
        cluster("b", ready=False, not_ready_since=0),
        cluster("c"),
        cluster("d"),
    ]
    result = run(clusters, pol, replicas=2, previous=[("a", 1), ("b", 1)])
    assert names(result) == ["a", "c"]
    assert result.explanations["a"].eligible
    assert result.explanations["a"].reasons[-1].message == "selected: kept from the previous decision"


def test_round_robin_re_placement_fills_from_the_cursor_around_survivors() -> None:
    clusters = [cluster("a"), cluster("b", ready=False, not_ready_since=0), cluster("c"), cluster("d")]
    result = run(clusters, policy(min_clusters=2), previous=[("b", 1), ("c", 1)], cursor=2)
    assert names(result) == ["c", "d"]  # c is kept; one more from position 2 of [a, c, d]
    assert result.round_robin_cursor == 0
    again = run(clusters, policy(min_clusters=2), previous=[("b", 1), ("c", 1)], cursor=1)
    assert names(again) == ["c", "d"]  # position 1 is c, already kept: the walk moves on to d


def test_a_new_cluster_does_not_change_an_existing_decision() -> None:
    before = run(FIVE, policy("Affinity", affinity=preferring((100, {"best": "yes"}))))
    grown = [*FIVE, cluster("0-best", labels={"best": "yes"})]
    after = run(grown, policy("Affinity", affinity=preferring((100, {"best": "yes"}))), previous=before.decision)
    assert after.decision == before.decision


def test_replicas_are_re_divided_over_a_kept_decision() -> None:
    kept = run([cluster("a"), cluster("b")], policy("Spread"), replicas=5, previous=[("a", 2), ("b", 1)])
    assert kept.decision == (("a", 3), ("b", 2))


def test_shrinking_max_clusters_trims_the_previous_decision() -> None:
    result = run(FIVE, policy("Affinity", max_clusters=2), previous=[("a", 1), ("b", 1), ("c", 1)])
    assert names(result) == ["a", "b"]


def test_a_previous_cluster_that_no_longer_exists_is_replaced() -> None:
    assert names(run(FIVE, policy(), previous=[("gone", 1)])) == ["a"]


def test_duplicate_previous_entries_are_rejected() -> None:
    with pytest.raises(ValueError, match="previous"):
        run(FIVE, policy(), previous=[("a", 1), ("a", 1)])


def test_duplicate_cluster_names_are_rejected() -> None:
    with pytest.raises(ValueError, match="duplicate cluster names: a"):
        decide([cluster("a"), cluster("a")], policy(), Workload("w"), None, DecisionContext(0))
