"""The user's seed examples 3 and 4 must be accepted unchanged, by the models and by the schemas."""

from __future__ import annotations

import pytest

from tests.unit.api.helpers import schema_errors, seed_example, seed_examples
from tests.unit.api.openapi import apply_defaults
from tmc.api import (
    LOCATION_LABEL,
    ClusterRegistration,
    LabelSelector,
    WorkloadPlacement,
    get_resource,
)


def test_the_seed_has_the_four_usage_examples() -> None:
    assert sorted(seed_examples()) == [1, 2, 3, 4]
    assert seed_examples()[3]["kind"] == "ClusterRegistration"
    assert seed_examples()[4]["kind"] == "WorkloadPlacement"


def test_example_3_registers_a_cluster_with_its_location_and_capabilities() -> None:
    registration = ClusterRegistration.model_validate(seed_example(3))

    assert registration.metadata.name == "cluster-us-west"
    assert registration.spec.location == "us-west-2"
    assert [(c.type, c.available) for c in registration.spec.capabilities] == [
        ("compute", True),
        ("storage", True),
    ]
    assert registration.spec.kubeconfig_secret_ref is None


def test_example_4_defines_a_spread_placement_with_defaults_filled_in() -> None:
    placement = WorkloadPlacement.model_validate(seed_example(4))

    assert placement.metadata.namespace is None  # kubectl puts it in "default"
    assert placement.spec.strategy == "Spread"
    assert placement.spec.location_selector == LabelSelector(match_labels={"region": "us-west"})
    assert [(r.type, r.required) for r in placement.spec.capability_requirements] == [("compute", True)]
    assert placement.spec.number_of_clusters.min == 1
    assert placement.spec.number_of_clusters.max is None
    assert (placement.spec.replica_division.mode, placement.spec.replica_division.weighting) == (
        "Divided",
        "Even",
    )
    assert [(r.api_version, r.kind, r.name) for r in placement.spec.workload_selector.resources] == [
        ("apps/v1", "Deployment", None)
    ]
    assert placement.spec.spread is None


@pytest.mark.parametrize("number", [3, 4])
def test_seed_example_is_valid_against_the_rendered_schema(number: int) -> None:
    example = seed_example(number)
    assert schema_errors(example["kind"], example) == []


@pytest.mark.parametrize("number", [3, 4])
def test_schema_defaults_agree_with_model_defaults(number: int) -> None:
    """What the apiserver stores after defaulting parses to the same object as the original manifest."""
    example = seed_example(number)
    info = get_resource(example["kind"])
    defaulted = apply_defaults(info.openapi_schema(), example)
    model = info.model
    assert model is not None

    assert defaulted != example  # the schema does default something here
    assert model.model_validate(defaulted) == model.model_validate(example)


@pytest.mark.parametrize("number", [3, 4])
def test_seed_example_round_trips_through_the_model(number: int) -> None:
    example = seed_example(number)
    model = get_resource(example["kind"]).model
    assert model is not None
    parsed = model.model_validate(example)

    dumped = parsed.to_dict()

    assert model.model_validate(dumped) == parsed
    assert schema_errors(example["kind"], dumped) == []


def test_location_is_not_a_region_label() -> None:
    """Example 4 selects `region: us-west`; example 3 only has location us-west-2, so it does not match."""
    registration = ClusterRegistration.model_validate(seed_example(3))
    placement = WorkloadPlacement.model_validate(seed_example(4))
    selector = placement.spec.location_selector
    assert selector is not None

    assert registration.selection_labels() == {LOCATION_LABEL: "us-west-2"}
    assert not selector.matches(registration.selection_labels())

    labelled = seed_example(3)
    labelled["metadata"]["labels"] = {"region": "us-west"}
    assert selector.matches(ClusterRegistration.model_validate(labelled).selection_labels())
