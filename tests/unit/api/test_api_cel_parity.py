"""Each CEL rule and its Python twin agree on every combination of the fields they look at.

The CEL side runs the rendered ``x-kubernetes-validations`` (after schema defaulting, as the
apiserver does) with the small interpreter in ``tests/unit/api/cel.py``.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from pydantic import ValidationError

from tests.unit.api.cel import evaluate
from tests.unit.api.openapi import apply_defaults, validate
from tmc.api import (
    ApiModel,
    LabelSelectorRequirement,
    NumberOfClusters,
    ReplicaDivision,
    StaticWeight,
    Toleration,
    WorkloadPlacementSpec,
    model_schema,
)

ABSENT = object()


def _combinations(**choices: list[Any]) -> list[dict[str, Any]]:
    names = list(choices)
    return [
        {name: value for name, value in zip(names, values, strict=True) if value is not ABSENT}
        for values in itertools.product(*(choices[name] for name in names))
    ]


CASES: dict[type[ApiModel], list[dict[str, Any]]] = {
    LabelSelectorRequirement: _combinations(
        key=["region"],
        operator=["In", "NotIn", "Exists", "DoesNotExist"],
        values=[ABSENT, [], ["a"]],
    ),
    NumberOfClusters: _combinations(min=[ABSENT, 1, 3], max=[ABSENT, 1, 2, 3, 5]),
    StaticWeight: _combinations(clusterName=[ABSENT, "a"], clusterSelector=[ABSENT, {}], weight=[1]),
    ReplicaDivision: _combinations(
        mode=[ABSENT, "Duplicated", "Divided"],
        weighting=[ABSENT, "Even", "Static", "Capacity"],
        staticWeights=[ABSENT, [], [{"clusterName": "a", "weight": 2}]],
    ),
    Toleration: _combinations(
        key=[ABSENT, "k"],
        operator=[ABSENT, "Equal", "Exists"],
        value=[ABSENT, "", "v"],
        effect=[ABSENT, "NoSchedule", "NoExecute"],
        tolerationSeconds=[ABSENT, 5],
    ),
    WorkloadPlacementSpec: _combinations(
        strategy=["RoundRobin", "Affinity", "Spread"],
        affinity=[ABSENT, {}],
        spread=[ABSENT, {}],
    ),
}


def _model_accepts(model: type[ApiModel], obj: dict[str, Any]) -> bool:
    try:
        model.model_validate(obj)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize("model", list(CASES), ids=lambda m: m.__name__)
def test_cel_rules_and_model_checks_agree(model: type[ApiModel]) -> None:
    schema = model_schema(model)
    verdicts = set()
    for obj in CASES[model]:
        by_schema = validate(schema, apply_defaults(schema, obj)) == []
        by_model = _model_accepts(model, obj)
        assert by_schema == by_model, (obj, validate(schema, apply_defaults(schema, obj)))
        verdicts.add(by_model)
    assert verdicts == {True, False}  # the combinations exercise both outcomes


@pytest.mark.parametrize("model", list(CASES), ids=lambda m: m.__name__)
def test_rules_hold_without_schema_defaulting(model: type[ApiModel]) -> None:
    """Rules guard optional fields with has(), so they evaluate (never error) on undefaulted objects too."""
    rules = model_schema(model)["x-kubernetes-validations"]
    for obj in CASES[model]:
        for rule in rules:
            assert isinstance(evaluate(rule["rule"], obj), bool)


def test_the_interpreter_follows_cel_semantics_tmc_relies_on() -> None:
    assert evaluate("!has(self.a) || self.a > 1", {}) is True
    assert evaluate("has(self.a) && size(self.a) > 0", {"a": "x"}) is True
    assert evaluate("self.a in ['x', 'y'] ? 1 : 2", {"a": "y"}) == 1
    assert evaluate("self.missing == 1 || true", {}) is True  # error absorbed by the decisive side
    with pytest.raises(Exception, match="no such key"):
        evaluate("self.missing == 1", {})
