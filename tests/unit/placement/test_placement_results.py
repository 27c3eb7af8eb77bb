"""The shape of results: explanations, messages, and reuse of a CandidateSet."""

from __future__ import annotations

import pytest

from tmc.placement import (
    CandidateSet,
    DecisionContext,
    PlacementStatus,
    ReasonCode,
    ReasonEffect,
    Workload,
    decide,
    decide_many,
)

from ._builders import NOW, cluster, policy, run, sel

CLUSTERS = [
    cluster("west-1", "us-west-2", labels={"region": "us-west"}, cpu=4000, memory=8),
    cluster("west-2", "us-west-2", labels={"region": "us-west"}, cpu=2000, memory=8),
    cluster("bare", "us-west-2"),
]
WEST = policy("Affinity", location_selector=sel({"region": "us-west"}))


def test_every_candidate_is_explained_in_name_order() -> None:
    result = run(CLUSTERS, WEST)
    assert list(result.explanations) == ["bare", "west-1", "west-2"]
    assert len(result.explanations) == 3
    with pytest.raises(KeyError):
        result.explanations["unknown"]


def test_explanations_say_why_a_cluster_was_rejected_or_passed_over() -> None:
    result = run(CLUSTERS, WEST)
    bare = result.explanations["bare"]
    assert not bare.eligible
    assert not bare.selected
    assert bare.score is None
    assert bare.replicas is None
    assert [(r.code, r.message, r.effect) for r in bare.reasons] == [
        (
            ReasonCode.LOCATION_SELECTOR_MISMATCH,
            "label region: cluster has no such label (labels: tmc.kcp.io/location=us-west-2)",
            ReasonEffect.BLOCKS_ALL,
        )
    ]
    chosen, other = result.explanations["west-1"], result.explanations["west-2"]
    assert (chosen.selected, chosen.replicas) == (True, 1)
    assert chosen.score is not None
    assert other.score is not None
    assert chosen.score.total > other.score.total
    assert other.eligible
    assert not other.selected
    assert other.reasons[-1].code is ReasonCode.NOT_SELECTED
    assert "lower score" in other.reasons[-1].message


def test_scheduled_message_lists_the_assignments() -> None:
    result = run(CLUSTERS, policy("Spread", location_selector=sel({"region": "us-west"})), replicas=3)
    assert result.status is PlacementStatus.SCHEDULED
    assert result.message == (
        "scheduled 3 replica(s) on 2 cluster(s): west-1=2, west-2=1; 2 of 3 candidate(s) eligible"
    )
    kept = run(CLUSTERS, WEST, previous=result.decision[:1])
    assert kept.message.endswith("; previous decision kept")


def test_no_candidates_at_all() -> None:
    result = run([], policy())
    assert result.status is PlacementStatus.NO_ELIGIBLE_CLUSTERS
    assert result.message == "no candidate clusters"


def test_a_candidate_set_can_be_reused_across_decisions_and_batches() -> None:
    candidates = CandidateSet(CLUSTERS)
    one = decide(candidates, WEST, Workload("ns/a"), None, DecisionContext(NOW))
    assert one == decide(list(reversed(CLUSTERS)), WEST, Workload("ns/a"), None, DecisionContext(NOW))
    batch = decide_many(candidates, WEST, [Workload("ns/a"), Workload("ns/b")], {}, DecisionContext(NOW))
    assert batch.results["ns/a"] == one
    with pytest.raises(ValueError, match="duplicate workload key"):
        decide_many(candidates, WEST, [Workload("ns/a"), Workload("ns/a")], {}, DecisionContext(NOW))
