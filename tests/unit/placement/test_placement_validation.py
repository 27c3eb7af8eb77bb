"""Input validation: bad policies fail at construction, naming the field path."""

from __future__ import annotations

from typing import Any, cast

import pytest

from tmc.placement import (
    Affinity,
    CandidateSet,
    ClusterCandidate,
    DivisionMode,
    FrozenLabels,
    InvalidSelectorError,
    LabelSelector,
    NumberOfClusters,
    PlacementPolicy,
    PlacementValidationError,
    PreferredTerm,
    ReplicaDivision,
    SpreadConstraint,
    StaticWeight,
    Strategy,
    Taint,
    TaintEffect,
    Toleration,
    TolerationOperator,
    Workload,
)

from ._builders import cluster, sel

BAD = sel(None, ("region", "In", []))
VALUES = ".matchExpressions[0].values"
MODE = "spec.replicaDivision.mode"


@pytest.mark.parametrize(
    ("kwargs", "path"),
    [
        pytest.param({"location_selector": BAD}, "spec.locationSelector.matchExpressions[0].values", id="location"),
        pytest.param({"fallback_groups": (sel(), BAD)}, "spec.fallbackGroups[1].matchExpressions[0].values", id="fb"),
        pytest.param(
            {"affinity": Affinity(required=(BAD,))},
            "spec.affinity.required[0].matchExpressions[0].values",
            id="req",
        ),
        pytest.param(
            {"affinity": Affinity(preferred=(PreferredTerm(5, BAD),))},
            f"spec.affinity.preferred[0].selector{VALUES}",
            id="preferred selector",
        ),
        pytest.param(
            {"affinity": Affinity(preferred=(PreferredTerm(101, sel()),))},
            "spec.affinity.preferred[0].weight",
            id="preferred weight above 100",
        ),
        pytest.param(
            {"affinity": Affinity(workload_anti_affinity=BAD)},
            f"spec.affinity.workloadAntiAffinity{VALUES}",
            id="anti-affinity",
        ),
        pytest.param({"number_of_clusters": NumberOfClusters(0)}, "spec.numberOfClusters.min", id="min zero"),
        pytest.param({"number_of_clusters": NumberOfClusters(3, 2)}, "spec.numberOfClusters.max", id="max < min"),
        pytest.param({"spread": SpreadConstraint(max_skew=0)}, "spec.spread.maxSkew", id="skew zero"),
        pytest.param({"spread": SpreadConstraint("")}, "spec.spread.topologyKey", id="empty topology key"),
        pytest.param(
            {"tolerations": (Toleration("k", TolerationOperator.EXISTS, "v"),)},
            "spec.tolerations[0].value",
            id="Exists with a value",
        ),
        pytest.param({"tolerations": (Toleration(),)}, "spec.tolerations[0].key", id="Equal without a key"),
        pytest.param(
            {"tolerations": (Toleration("k", toleration_seconds=-1),)},
            "spec.tolerations[0].tolerationSeconds",
            id="negative seconds",
        ),
        pytest.param(
            {"replica_division": ReplicaDivision(weighting="Static")},  # type: ignore[arg-type]
            "spec.replicaDivision.staticWeights",
            id="Static without weights",
        ),
        pytest.param(
            {"replica_division": ReplicaDivision(static_weights=(StaticWeight("a", -1),))},
            "spec.replicaDivision.staticWeights[0].weight",
            id="negative static weight",
        ),
    ],
)
def test_invalid_policies_name_the_field(kwargs: dict[str, Any], path: str) -> None:
    with pytest.raises(PlacementValidationError) as caught:
        PlacementPolicy(Strategy.SPREAD, **kwargs)
    assert caught.value.field_path == path


def test_invalid_selector_in_a_policy_is_an_invalid_selector_error() -> None:
    with pytest.raises(InvalidSelectorError, match=r"^spec.locationSelector.matchExpressions\[0\].values: "):
        PlacementPolicy(Strategy.AFFINITY, location_selector=BAD)


def test_yaml_strings_are_accepted_for_enums() -> None:
    policy = PlacementPolicy("Spread")  # type: ignore[arg-type]
    assert policy.strategy is Strategy.SPREAD
    assert Taint("k", "", "NoSchedule").effect is TaintEffect.NO_SCHEDULE  # type: ignore[arg-type]
    with pytest.raises(PlacementValidationError, match=r"^spec\.strategy: "):
        PlacementPolicy("Random")  # type: ignore[arg-type]


def test_labels_are_frozen_copies() -> None:
    source = {"region": "us-west"}
    candidate = ClusterCandidate("a", labels=source)
    source["region"] = "changed"
    assert candidate.labels == {"region": "us-west"}
    with pytest.raises(TypeError):
        candidate.labels["x"] = "y"  # type: ignore[index]
    assert isinstance(candidate.labels, FrozenLabels)
    assert hash(LabelSelector({"a": "b"})) == hash(LabelSelector({"a": "b"}))


@pytest.mark.parametrize(
    ("build", "path"),
    [
        pytest.param(lambda: Workload("w", -1), "workload.replicas", id="negative replicas"),
        pytest.param(lambda: ReplicaDivision(mode=cast(DivisionMode, "Split")), MODE, id="unknown division mode"),
        pytest.param(lambda: Workload(""), "workload.key", id="empty workload key"),
        pytest.param(lambda: ClusterCandidate(""), "cluster.name", id="empty cluster name"),
        pytest.param(lambda: cluster("a", cpu=-1), "cluster[a].allocatable_cpu_millis", id="negative cpu"),
    ],
)
def test_invalid_inputs(build: Any, path: str) -> None:
    with pytest.raises(PlacementValidationError) as caught:
        build()
    assert caught.value.field_path == path


def test_candidate_set_is_sorted_and_indexed() -> None:
    candidates = CandidateSet([cluster("b"), cluster("a")])
    assert [c.name for c in candidates] == ["a", "b"]
    assert "a" in candidates
    assert candidates.get("b") is not None
    assert candidates.get("zz") is None
    assert len(candidates) == 2
