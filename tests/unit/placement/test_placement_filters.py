"""Eligibility: per-cluster stages, and how they treat new versus existing placements."""

from __future__ import annotations

import pytest

from tmc.placement import (
    Affinity,
    ClusterCandidate,
    PlacementStatus,
    ReasonCode,
    ReasonEffect,
    Toleration,
    TolerationOperator,
)
from tmc.placement.filters import check_ready, check_taints, evaluate

from ._builders import NOW, cluster, names, policy, run, sel, taint

NOT_READY_FOR_60S = Toleration("tmc.kcp.io/not-ready", TolerationOperator.EXISTS, toleration_seconds=60)


def sick(name: str, since: float = NOW - 30) -> ClusterCandidate:
    return cluster(name, ready=False, not_ready_since=since)


@pytest.mark.parametrize(
    ("tolerations", "since", "keeps"),
    [
        pytest.param((), NOW - 1, False, id="without a toleration an existing placement leaves at once"),
        pytest.param((NOT_READY_FOR_60S,), NOW - 30, True, id="a 60s toleration keeps it after 30s"),
        pytest.param((NOT_READY_FOR_60S,), NOW - 60, False, id="the toleration ends exactly at since+seconds"),
        pytest.param((NOT_READY_FOR_60S,), None, False, id="an unknown start time counts as expired"),
        pytest.param(
            (Toleration("tmc.kcp.io/not-ready", TolerationOperator.EXISTS),),
            NOW - 10_000,
            True,
            id="a toleration without seconds keeps it forever",
        ),
        pytest.param(
            (Toleration(operator=TolerationOperator.EXISTS),),
            NOW - 10_000,
            True,
            id="an empty-key Exists toleration tolerates every taint",
        ),
        pytest.param(
            (Toleration("tmc.kcp.io/not-ready", TolerationOperator.EXISTS, effect="NoSchedule"),),  # type: ignore[arg-type]
            NOW - 1,
            False,
            id="a toleration for another effect does not apply",
        ),
    ],
)
def test_not_ready_cluster_keeps_existing_placement_only_while_tolerated(
    tolerations: tuple[Toleration, ...], since: float | None, keeps: bool
) -> None:
    clusters = [cluster("a", ready=False, not_ready_since=since), cluster("b")]
    result = run(clusters, policy(tolerations=tolerations), previous=[("a", 1)])
    assert names(result) == (["a"] if keeps else ["b"])


def test_not_ready_cluster_never_receives_new_placements_even_when_tolerated_forever() -> None:
    forever = Toleration("tmc.kcp.io/not-ready", TolerationOperator.EXISTS)
    result = run([sick("a")], policy(tolerations=(forever,)))
    assert result.status is PlacementStatus.NO_ELIGIBLE_CLUSTERS
    assert result.decision == ()
    assert result.explanations["a"].reasons[0].code is ReasonCode.NOT_READY


def test_not_ready_toleration_expiry_is_reported() -> None:
    result = check_ready(sick("a", since=NOW - 90), (NOT_READY_FOR_60S,), NOW)
    assert result.effect is ReasonEffect.BLOCKS_ALL
    assert result.reasons[0].code is ReasonCode.NOT_READY_TOLERATION_EXPIRED
    assert "expired at t=970" in result.reasons[0].message


@pytest.mark.parametrize(
    ("effect", "new_ok", "existing_ok"),
    [
        pytest.param("NoSchedule", False, True, id="NoSchedule blocks new placements and keeps existing ones"),
        pytest.param("NoExecute", False, False, id="NoExecute blocks new placements and removes existing ones"),
        pytest.param("PreferNoSchedule", True, True, id="PreferNoSchedule only costs score"),
    ],
)
def test_untolerated_taints(effect: str, new_ok: bool, existing_ok: bool) -> None:
    result = check_taints(cluster("a", taints=[taint("dedicated", effect, "gpu")]), (), NOW)
    assert result.allows_new is new_ok
    assert result.allows_existing is existing_ok
    assert f"dedicated=gpu:{effect}" in result.reasons[0].message


@pytest.mark.parametrize(
    ("toleration", "allowed"),
    [
        pytest.param(Toleration("dedicated", value="gpu"), True, id="Equal with the same value tolerates"),
        pytest.param(Toleration("dedicated", value="cpu"), False, id="Equal with another value does not"),
        pytest.param(Toleration("dedicated", TolerationOperator.EXISTS), True, id="Exists ignores the value"),
        pytest.param(Toleration("other", TolerationOperator.EXISTS), False, id="another key does not tolerate"),
    ],
)
def test_toleration_matching(toleration: Toleration, allowed: bool) -> None:
    clusters = [cluster("a", taints=[taint("dedicated", "NoSchedule", "gpu")])]
    result = run(clusters, policy(tolerations=(toleration,)))
    assert (result.status is PlacementStatus.SCHEDULED) is allowed


def test_bounded_no_execute_toleration_keeps_existing_until_it_expires_but_blocks_new() -> None:
    bounded = (Toleration("maintenance", TolerationOperator.EXISTS, toleration_seconds=100),)
    tainted = cluster("a", taints=[taint("maintenance", "NoExecute", since=NOW - 50)])
    spare = cluster("b")
    assert names(run([tainted, spare], policy(tolerations=bounded), previous=[("a", 1)])) == ["a"]
    assert names(run([tainted, spare], policy(tolerations=bounded))) == ["b"]
    later = run([tainted, spare], policy(tolerations=bounded), previous=[("a", 1)], now=NOW + 50)
    assert names(later) == ["b"]
    assert later.explanations["a"].reasons[0].code is ReasonCode.TAINT_TOLERATION_EXPIRED


def test_unbounded_no_execute_toleration_allows_new_placements() -> None:
    tolerate = (Toleration("maintenance", TolerationOperator.EXISTS),)
    tainted = cluster("a", taints=[taint("maintenance", "NoExecute")])
    assert names(run([tainted], policy(tolerations=tolerate))) == ["a"]


def test_cordoned_cluster_keeps_existing_and_receives_nothing_new() -> None:
    clusters = [cluster("a", unschedulable=True), cluster("b")]
    assert names(run(clusters, policy(), previous=[("a", 1)])) == ["a"]
    fresh = run(clusters, policy())
    assert names(fresh) == ["b"]
    assert fresh.explanations["a"].reasons[0].code is ReasonCode.UNSCHEDULABLE
    assert fresh.explanations["a"].eligible is False


def test_required_capability_must_be_effective() -> None:
    clusters = [cluster("a", caps=()), cluster("b", caps=("compute", "storage"))]
    result = run(clusters, policy(caps=("storage",)))
    assert names(result) == ["b"]
    reason = result.explanations["a"].reasons[0]
    assert reason.code is ReasonCode.CAPABILITY_MISSING
    assert reason.message == "required capability storage is not available (available: none)"


def test_losing_a_required_capability_moves_an_existing_placement() -> None:
    clusters = [cluster("a", caps=()), cluster("b", caps=("gpu",))]
    assert names(run(clusters, policy(caps=("gpu",)), previous=[("a", 1)])) == ["b"]


def test_required_affinity_terms_are_ored() -> None:
    terms = (sel({"tier": "gold"}), sel({"tier": "silver"}))
    clusters = [cluster("a", labels={"tier": "bronze"}), cluster("b", labels={"tier": "silver"})]
    result = run(clusters, policy("Affinity", affinity=Affinity(required=terms)))
    assert names(result) == ["b"]
    message = result.explanations["a"].reasons[0].message
    assert "term[0]: label tier: cluster has tier=bronze, selector wants tier=gold" in message
    assert "term[1]" in message


def test_workload_anti_affinity_blocks_new_placements_but_ignores_the_workload_itself() -> None:
    anti = Affinity(workload_anti_affinity=sel({"app": "db"}))
    clusters = [
        cluster("a", hosts={"apps/v1/StatefulSet/ns/other-db": {"app": "db"}}),
        cluster("b", hosts={"apps/v1/Deployment/ns/web": {"app": "db"}}),
        cluster("c"),
    ]
    pol = policy("Spread", affinity=anti)
    result = run(clusters, pol, key="apps/v1/Deployment/ns/web")
    assert names(result) == ["b", "c"]
    assert result.explanations["a"].reasons[0].code is ReasonCode.WORKLOAD_ANTI_AFFINITY
    assert "apps/v1/StatefulSet/ns/other-db" in result.explanations["a"].reasons[0].message
    # Anti-affinity is not enforced against an existing placement.
    assert names(run(clusters, pol, previous=[("a", 1)], key="apps/v1/Deployment/ns/web")) == ["a"]


def test_evaluate_reports_every_failing_stage_not_just_the_first() -> None:
    bad = cluster("a", "us-east-1", caps=(), ready=False, not_ready_since=NOW)
    pol = policy(location_selector=sel({"region": "us-west"}), caps=("compute",))
    codes = [r.code for r in evaluate(bad, pol.compiled, 0, "w", NOW).reasons]
    assert codes == [
        ReasonCode.NOT_READY,
        ReasonCode.CAPABILITY_MISSING,
        ReasonCode.LOCATION_SELECTOR_MISMATCH,
    ]


def test_the_next_toleration_expiry_is_the_earliest_future_end_of_a_tolerated_not_ready_or_no_execute() -> None:
    from tmc.placement import (
        NOT_READY_TAINT_KEY,
        ClusterCandidate,
        Taint,
        TaintEffect,
        Toleration,
        TolerationOperator,
        next_toleration_expiry,
    )

    not_ready = ClusterCandidate(name="a", location="l", ready=False, not_ready_since=100.0)
    tainted = ClusterCandidate(
        name="b", location="l", taints=(Taint("maintenance", "", TaintEffect.NO_EXECUTE, time_added=90.0),)
    )
    tolerations = (
        Toleration(NOT_READY_TAINT_KEY, TolerationOperator.EXISTS, "", TaintEffect.NO_EXECUTE, 30.0),
        Toleration("maintenance", TolerationOperator.EXISTS, "", TaintEffect.NO_EXECUTE, 60.0),
    )

    assert next_toleration_expiry([not_ready, tainted], tolerations, now=110.0) == 130.0
    assert next_toleration_expiry([not_ready, tainted], tolerations, now=140.0) == 150.0
    assert next_toleration_expiry([not_ready, tainted], tolerations, now=151.0) is None
    assert next_toleration_expiry([not_ready], (), now=110.0) is None, "untolerated: nothing to wait for"
