"""Invalid objects are rejected by the models and by the rendered schemas, at the same field."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from tests.unit.api.helpers import (
    placement,
    pydantic_error_paths,
    registration,
    schema_errors,
    seed_example,
)
from tmc.api import get_resource


def _seed_placement(**spec: Any) -> dict[str, Any]:
    obj = seed_example(4)
    obj["spec"].update(spec)
    return obj


def _expr(operator: str, values: list[str] | None = None) -> dict[str, Any]:
    expression: dict[str, Any] = {"key": "region", "operator": operator}
    if values is not None:
        expression["values"] = values
    return {"matchExpressions": [expression]}


CASES = [
    pytest.param(
        placement({"strategy": "Random"}),
        "spec.strategy",
        "Input should be",
        id="an unknown strategy is rejected",
    ),
    pytest.param(
        placement({}),
        "spec.strategy",
        "required",
        id="a placement without a strategy is rejected",
    ),
    pytest.param(
        registration({"capabilities": [{"type": "compute"}]}),
        "spec.location",
        "required",
        id="a registration without a location is rejected",
    ),
    pytest.param(registration({"location": ""}), "spec.location", "", id="an empty location is rejected"),
    pytest.param(
        registration({"location": "US_West"}),
        "spec.location",
        "pattern",
        id="a location that is not a DNS label is rejected",
    ),
    pytest.param(
        _seed_placement(locationSelector=_expr("Equals", ["us-west"])),
        "spec.locationSelector.matchExpressions[0].operator",
        "Input should be",
        id="a selector with an unknown operator is rejected",
    ),
    pytest.param(
        _seed_placement(locationSelector=_expr("Exists", ["us-west"])),
        "spec.locationSelector.matchExpressions[0].values",
        "must be non-empty when operator is In or NotIn, and empty when operator is Exists",
        id="an Exists expression with values is rejected",
    ),
    pytest.param(
        _seed_placement(locationSelector=_expr("In")),
        "spec.locationSelector.matchExpressions[0].values",
        "must be non-empty when operator is In or NotIn",
        id="an In expression without values is rejected",
    ),
    pytest.param(
        registration({"location": "us-west-2", "capabilities": [{"type": "compute", "available": "yes"}]}),
        "spec.capabilities[0].available",
        "boolean",
        id="a capability availability that is not a boolean is rejected",
    ),
    pytest.param(
        _seed_placement(numberOfClusters={"min": "2"}),
        "spec.numberOfClusters.min",
        "integer",
        id="a number of clusters given as a string is rejected",
    ),
    pytest.param(
        _seed_placement(numberOfClusters={"min": 3, "max": 2}),
        "spec.numberOfClusters.max",
        "numberOfClusters.max must be greater than or equal to numberOfClusters.min",
        id="max clusters below min clusters is rejected",
    ),
    pytest.param(
        _seed_placement(numberOfClusters={"min": 0}),
        "spec.numberOfClusters.min",
        "greater than or equal to 1",
        id="zero clusters is rejected",
    ),
    pytest.param(
        _seed_placement(replicaDivision={"weighting": "Static", "staticWeights": [{"clusterName": "a", "weight": -1}]}),
        "spec.replicaDivision.staticWeights[0].weight",
        "greater than or equal to 1",
        id="a negative replica weight is rejected",
    ),
    pytest.param(
        _seed_placement(replicaDivision={"staticWeights": [{"clusterName": "a", "weight": 3}]}),
        "spec.replicaDivision.staticWeights",
        "staticWeights may only be set when replicaDivision.weighting is Static",
        id="static weights without Static weighting are rejected",
    ),
    pytest.param(
        _seed_placement(replicaDivision={"weighting": "Static"}),
        "spec.replicaDivision.staticWeights",
        "must not be empty when weighting is Static",
        id="Static weighting without weights is rejected",
    ),
    pytest.param(
        _seed_placement(replicaDivision={"mode": "Duplicated", "weighting": "Capacity"}),
        "spec.replicaDivision.weighting",
        "weighting must be Even when replicaDivision.mode is Duplicated",
        id="weighting duplicated replicas is rejected",
    ),
    pytest.param(
        _seed_placement(
            replicaDivision={
                "weighting": "Static",
                "staticWeights": [{"clusterName": "a", "clusterSelector": {}, "weight": 1}],
            }
        ),
        "spec.replicaDivision.staticWeights[0]",
        "must set exactly one of clusterName or clusterSelector",
        id="a static weight naming a cluster and a selector is rejected",
    ),
    pytest.param(
        _seed_placement(strategy="RoundRobin", spread={"maxSkew": 2}),
        "spec.spread",
        "spec.spread may only be set when spec.strategy is Spread",
        id="spread parameters on a RoundRobin placement are rejected",
    ),
    pytest.param(
        _seed_placement(strategy="Affinity"),
        "spec.affinity",
        "spec.affinity is required when spec.strategy is Affinity",
        id="an Affinity placement without affinity is rejected",
    ),
    pytest.param(
        _seed_placement(spread={"maxSkew": 0}),
        "spec.spread.maxSkew",
        "greater than or equal to 1",
        id="a max skew of zero is rejected",
    ),
    pytest.param(
        _seed_placement(tolerations=[{"key": "maintenance", "operator": "Exists", "value": "yes"}]),
        "spec.tolerations[0].value",
        "value must be empty when tolerations[].operator is Exists",
        id="a value on an Exists toleration is rejected",
    ),
    pytest.param(
        _seed_placement(tolerations=[{"value": "x"}]),
        "spec.tolerations[0].operator",
        "operator must be Exists when tolerations[].key is empty",
        id="a toleration without key must use Exists",
    ),
    pytest.param(
        _seed_placement(tolerations=[{"key": "k", "effect": "NoSchedule", "tolerationSeconds": 5}]),
        "spec.tolerations[0].tolerationSeconds",
        "tolerationSeconds may only be set when tolerations[].effect is NoExecute",
        id="toleration seconds on a NoSchedule toleration are rejected",
    ),
    pytest.param(
        _seed_placement(capabilityRequirements=[{"type": "compute"}, {"type": "compute", "required": False}]),
        "spec.capabilityRequirements[1]",
        "duplicate",
        id="a capability required twice is rejected",
    ),
    pytest.param(
        registration({"location": "us-west-2", "taints": [{"key": "k", "effect": "Evict"}]}),
        "spec.taints[0].effect",
        "Input should be",
        id="an unknown taint effect is rejected",
    ),
    pytest.param(
        registration({"location": "us-west-2", "kubeconfigSecretRef": {"name": "kubeconfig"}}),
        "spec.kubeconfigSecretRef.namespace",
        "required",
        id="a kubeconfig secret reference without namespace is rejected",
    ),
    pytest.param(
        _seed_placement(stratgy="Spread"),
        "spec.stratgy",
        "",
        id="a misspelt field is rejected",
    ),
    pytest.param(
        _seed_placement(workloadSelector={"resources": []}),
        "spec.workloadSelector.resources",
        "",
        id="an empty list of workload kinds is rejected",
    ),
]


@pytest.mark.parametrize(("obj", "path", "message"), CASES)
def test_the_model_rejects_it_at_the_field(obj: dict[str, Any], path: str, message: str) -> None:
    model = get_resource(obj["kind"]).model
    assert model is not None

    with pytest.raises(ValidationError) as caught:
        model.model_validate(obj)

    assert path in pydantic_error_paths(caught.value), str(caught.value)
    assert message in str(caught.value)


@pytest.mark.parametrize(("obj", "path", "message"), CASES)
def test_the_rendered_schema_rejects_it_at_the_field(obj: dict[str, Any], path: str, message: str) -> None:
    errors = schema_errors(obj["kind"], obj)

    assert path in [error_path for error_path, _ in errors], errors
    if "must" in message:  # CEL rules: the apiserver reports the same message as the model
        assert any(message in text for _, text in errors), errors


def test_there_are_at_least_ten_invalid_cases() -> None:
    assert len(CASES) >= 10
