"""Model behaviour beyond validation: aliases, strictness, selectors, selection labels, helpers."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

import tmc.api
from tests.unit.api.helpers import pydantic_error_paths, registration
from tmc.api import (
    LOCATION_LABEL,
    ClusterRegistration,
    ClusterRegistrationStatus,
    LabelSelector,
    LabelSelectorRequirement,
    NumberOfClusters,
    ObjectMeta,
    WorkloadPlacement,
    WorkloadPlacementSpec,
    summarize_clusters,
)


def test_fields_are_snake_case_in_python_and_camel_case_on_the_wire() -> None:
    spec = WorkloadPlacementSpec(strategy="RoundRobin", number_of_clusters=NumberOfClusters(min=2, max=3))
    same = WorkloadPlacementSpec.model_validate({"strategy": "RoundRobin", "numberOfClusters": {"min": 2, "max": 3}})

    assert spec == same
    assert spec.to_dict()["numberOfClusters"] == {"min": 2, "max": 3}
    assert "number_of_clusters" not in spec.to_dict()


@pytest.mark.parametrize(
    ("status", "path"),
    [
        pytest.param({"nodeCount": "3"}, "status.nodeCount", id="a numeric string is not an integer"),
        pytest.param({"nodeCount": 2.0}, "status.nodeCount", id="a float is not an integer"),
        pytest.param(
            {"conditions": [{"type": "Ready", "status": True}]},
            "status.conditions[0].status",
            id="a YAML boolean is not a condition status",
        ),
        pytest.param(
            {"lastHeartbeatTime": "2025-01-01T00:00:00"},
            "status.lastHeartbeatTime",
            id="a timestamp needs a time zone",
        ),
        pytest.param({"allocatable": {"cpu": "lots"}}, "status.allocatable.cpu", id="allocatable must be a quantity"),
    ],
)
def test_types_are_strict_like_the_apiserver(status: dict[str, Any], path: str) -> None:
    obj = registration({"location": "us-west-2"})
    obj["status"] = status

    with pytest.raises(ValidationError) as caught:
        ClusterRegistration.model_validate(obj)

    assert path in pydantic_error_paths(caught.value)


def test_timestamps_parse_from_rfc3339_and_serialize_back() -> None:
    status = ClusterRegistrationStatus.model_validate(
        {"lastHeartbeatTime": "2025-01-01T10:00:00Z", "allocatable": {"cpu": "7500m", "memory": "30Gi"}}
    )
    assert status.to_dict()["lastHeartbeatTime"] == "2025-01-01T10:00:00Z"


def test_object_metadata_keeps_fields_it_does_not_type() -> None:
    meta = ObjectMeta.model_validate(
        {"name": "a", "creationTimestamp": "2025-01-01T00:00:00Z", "managedFields": [{"manager": "kubectl"}]}
    )
    assert meta.to_dict()["managedFields"] == [{"manager": "kubectl"}]
    assert meta.to_dict()["creationTimestamp"] == "2025-01-01T00:00:00Z"


def test_a_duplicate_capability_is_rejected_at_its_index() -> None:
    obj = registration({"location": "l", "capabilities": [{"type": "gpu"}, {"type": "gpu", "available": False}]})

    with pytest.raises(ValidationError) as caught:
        ClusterRegistration.model_validate(obj)

    assert pydantic_error_paths(caught.value) == ["spec.capabilities[1]"]
    assert "type='gpu'" in str(caught.value)


def test_taints_are_unique_by_key_and_effect() -> None:
    ok = registration(
        {
            "location": "l",
            "taints": [{"key": "k", "effect": "NoSchedule"}, {"key": "k", "effect": "NoExecute"}],
        }
    )
    ClusterRegistration.model_validate(ok)

    dup = registration(
        {
            "location": "l",
            "taints": [{"key": "k", "effect": "NoSchedule"}, {"key": "k", "effect": "NoSchedule"}],
        }
    )
    with pytest.raises(ValidationError, match="duplicate entry with key='k', effect='NoSchedule'"):
        ClusterRegistration.model_validate(dup)


def _requirement(operator: str, *values: str) -> LabelSelectorRequirement:
    return LabelSelectorRequirement.model_validate({"key": "zone", "operator": operator, "values": list(values)})


@pytest.mark.parametrize(
    ("selector", "labels", "matches"),
    [
        pytest.param(LabelSelector(), {}, True, id="an empty selector matches everything"),
        pytest.param(
            LabelSelector(match_labels={"region": "eu"}),
            {"region": "eu", "x": "y"},
            True,
            id="matchLabels matches",
        ),
        pytest.param(
            LabelSelector(match_labels={"region": "eu"}), {"region": "us"}, False, id="matchLabels mismatches"
        ),
        pytest.param(
            LabelSelector(match_expressions=[_requirement("In", "a", "b")]),
            {"zone": "b"},
            True,
            id="In matches",
        ),
        pytest.param(LabelSelector(match_expressions=[_requirement("In", "a")]), {}, False, id="In needs the label"),
        pytest.param(
            LabelSelector(match_expressions=[_requirement("NotIn", "a")]),
            {},
            True,
            id="NotIn matches a missing label",
        ),
        pytest.param(
            LabelSelector(match_expressions=[_requirement("NotIn", "a")]),
            {"zone": "a"},
            False,
            id="NotIn mismatches",
        ),
        pytest.param(
            LabelSelector(match_expressions=[_requirement("Exists")]), {"zone": ""}, True, id="Exists matches"
        ),
        pytest.param(
            LabelSelector(match_expressions=[_requirement("DoesNotExist")]),
            {"zone": "a"},
            False,
            id="DoesNotExist mismatches",
        ),
        pytest.param(
            LabelSelector(match_labels={"region": "eu"}, match_expressions=[_requirement("Exists")]),
            {"region": "eu"},
            False,
            id="labels and expressions are ANDed",
        ),
    ],
)
def test_label_selector_matching(selector: LabelSelector, labels: dict[str, str], matches: bool) -> None:
    assert selector.matches(labels) is matches


def test_the_location_label_always_equals_spec_location() -> None:
    obj = registration({"location": "eu-central-1"}, labels={LOCATION_LABEL: "elsewhere", "tier": "gold"})
    labels = ClusterRegistration.model_validate(obj).selection_labels()
    assert labels == {LOCATION_LABEL: "eu-central-1", "tier": "gold"}


def test_models_build_with_defaults_in_python() -> None:
    placement = WorkloadPlacement(spec=WorkloadPlacementSpec(strategy="Spread"))
    dumped = placement.to_dict()

    assert (dumped["apiVersion"], dumped["kind"]) == ("tmc.kcp.io/v1alpha1", "WorkloadPlacement")
    assert dumped["spec"]["replicaDivision"] == {"mode": "Divided", "weighting": "Even", "staticWeights": []}
    assert dumped["status"]["roundRobinCursor"] == 0


@pytest.mark.parametrize(
    ("names", "limit", "expected"),
    [
        pytest.param(["b", "a", "a"], 256, "a,b", id="sorted and deduplicated"),
        pytest.param([], 256, "", id="empty"),
        pytest.param(["alpha", "beta", "gamma"], 15, "alpha,+2 more", id="shortened to fit"),
        pytest.param(["alpha", "beta"], 7, "+2 more", id="only a count when nothing fits"),
    ],
)
def test_summarize_clusters(names: list[str], limit: int, expected: str) -> None:
    summary = summarize_clusters(names, limit)
    assert summary == expected
    assert len(summary) <= limit


def test_a_long_summary_is_a_valid_status_field() -> None:
    names = [f"cluster-{i:03d}.example.com" for i in range(50)]
    obj = {"selectedClusters": summarize_clusters(names)}
    assert WorkloadPlacement.model_validate({"spec": {"strategy": "Spread"}, "status": obj}).status.selected_clusters


def test_the_public_surface_is_importable() -> None:
    for name in tmc.api.__all__:
        assert getattr(tmc.api, name) is not None, name
