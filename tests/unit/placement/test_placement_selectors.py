from __future__ import annotations

import pytest

from tmc.placement import (
    CandidateSet,
    InvalidSelectorError,
    LabelSelector,
    LabelSelectorRequirement,
    PlacementValidationError,
    compile_selector,
)

from ._builders import cluster, sel

WEST = {"region": "us-west", "tmc.kcp.io/location": "us-west-2", "cores": "16"}


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        pytest.param(sel(), {}, True, id="the empty selector matches everything"),
        pytest.param(sel({"region": "us-west"}), WEST, True, id="matchLabels matches an equal label"),
        pytest.param(sel({"region": "us-east"}), WEST, False, id="matchLabels rejects a different value"),
        pytest.param(sel({"zone": "a"}), WEST, False, id="matchLabels rejects a missing label"),
        pytest.param(sel(None, ("region", "In", ["us-east", "us-west"])), WEST, True, id="In matches any listed value"),
        pytest.param(sel(None, ("zone", "In", ["a"])), WEST, False, id="In rejects a missing label"),
        pytest.param(sel(None, ("region", "NotIn", ["us-west"])), WEST, False, id="NotIn rejects a listed value"),
        pytest.param(sel(None, ("zone", "NotIn", ["a"])), WEST, True, id="NotIn matches a missing label"),
        pytest.param(sel(None, ("region", "Exists", [])), WEST, True, id="Exists matches a present label"),
        pytest.param(sel(None, ("zone", "Exists", [])), WEST, False, id="Exists rejects a missing label"),
        pytest.param(sel(None, ("zone", "DoesNotExist", [])), WEST, True, id="DoesNotExist matches a missing label"),
        pytest.param(sel(None, ("region", "DoesNotExist", [])), WEST, False, id="DoesNotExist rejects a present one"),
        pytest.param(sel(None, ("cores", "Gt", ["8"])), WEST, True, id="Gt compares integers"),
        pytest.param(sel(None, ("cores", "Gt", ["16"])), WEST, False, id="Gt is strict"),
        pytest.param(sel(None, ("cores", "Lt", ["32"])), WEST, True, id="Lt compares integers"),
        pytest.param(sel(None, ("region", "Gt", ["1"])), WEST, False, id="Gt rejects a non-integer label"),
        pytest.param(sel(None, ("zone", "Lt", ["1"])), WEST, False, id="Lt rejects a missing label"),
        pytest.param(sel({"region": "us-west"}, ("cores", "Gt", ["20"])), WEST, False, id="all requirements must hold"),
    ],
)
def test_selector_semantics(selector: LabelSelector, labels: dict[str, str], expected: bool) -> None:
    compiled = compile_selector(selector, "spec.locationSelector")
    assert compiled.matches(labels) is expected
    assert (compiled.explain(labels) == []) is expected
    # The bitset evaluation over a candidate set must agree with the per-cluster one.
    location = labels.get("tmc.kcp.io/location", "")
    user_labels = {k: v for k, v in labels.items() if k != "tmc.kcp.io/location"}
    candidates = CandidateSet([cluster("c", location, labels=user_labels)])
    assert bool(candidates.matching(compiled)) is expected


def test_location_becomes_a_selectable_label() -> None:
    candidate = cluster("c", "us-west-2")
    assert candidate.selectable_labels == {"tmc.kcp.io/location": "us-west-2"}
    compiled = compile_selector(sel({"tmc.kcp.io/location": "us-west-2"}), "s")
    assert compiled.matches(candidate.selectable_labels)


def test_location_wins_over_a_user_label_with_the_same_key() -> None:
    candidate = cluster("c", "us-west-2", labels={"tmc.kcp.io/location": "spoofed"})
    assert candidate.selectable_labels["tmc.kcp.io/location"] == "us-west-2"


@pytest.mark.parametrize(
    ("selector", "labels", "message"),
    [
        pytest.param(
            sel({"region": "us-west"}),
            {"tmc.kcp.io/location": "us-west-2"},
            "label region: cluster has no such label (labels: tmc.kcp.io/location=us-west-2)",
            id="a missing matchLabels key names the label and lists the cluster's labels",
        ),
        pytest.param(
            sel({"region": "us-west"}),
            {"region": "us-east"},
            "label region: cluster has region=us-east, selector wants region=us-west",
            id="a wrong value names both values",
        ),
        pytest.param(
            sel(None, ("tier", "In", ["gold", "silver"])),
            {"tier": "bronze"},
            "label tier In (gold, silver): cluster has tier=bronze",
            id="In lists the allowed values",
        ),
        pytest.param(
            sel(None, ("tier", "NotIn", ["bronze"])),
            {"tier": "bronze"},
            "label tier NotIn (bronze): cluster has tier=bronze",
            id="NotIn shows the offending value",
        ),
        pytest.param(
            sel(None, ("gpu", "DoesNotExist", [])),
            {"gpu": "a100"},
            "label gpu DoesNotExist: cluster has gpu=a100",
            id="DoesNotExist shows the present label",
        ),
        pytest.param(
            sel(None, ("cores", "Gt", ["8"])),
            {"cores": "many"},
            "label cores Gt 8: cluster has cores=many, which is not an integer",
            id="Gt explains a non-integer label",
        ),
    ],
)
def test_mismatch_messages(selector: LabelSelector, labels: dict[str, str], message: str) -> None:
    assert compile_selector(selector, "s").explain(labels) == [message]


def test_explain_lists_every_unmet_requirement() -> None:
    compiled = compile_selector(sel({"a": "1", "b": "2"}), "s")
    assert len(compiled.explain({"c": "3"})) == 2


@pytest.mark.parametrize(
    ("selector", "path"),
    [
        pytest.param(sel(None, ("region", "Near", ["x"])), "spec.x.matchExpressions[0].operator", id="unknown op"),
        pytest.param(sel(None, ("region", "In", [])), "spec.x.matchExpressions[0].values", id="In without values"),
        pytest.param(sel(None, ("r", "NotIn", [])), "spec.x.matchExpressions[0].values", id="NotIn without values"),
        pytest.param(sel(None, ("r", "Exists", ["x"])), "spec.x.matchExpressions[0].values", id="Exists with values"),
        pytest.param(sel(None, ("r", "Gt", ["x"])), "spec.x.matchExpressions[0].values", id="Gt non-integer"),
        pytest.param(sel(None, ("r", "Lt", ["1", "2"])), "spec.x.matchExpressions[0].values", id="Lt two values"),
        pytest.param(sel(None, ("", "Exists", [])), "spec.x.matchExpressions[0].key", id="empty expression key"),
        pytest.param(sel({"": "v"}), "spec.x.matchLabels", id="empty matchLabels key"),
        pytest.param(
            LabelSelector(
                match_expressions=(
                    LabelSelectorRequirement("a", "Exists"),  # type: ignore[arg-type]
                    LabelSelectorRequirement("b", "Bogus"),  # type: ignore[arg-type]
                )
            ),
            "spec.x.matchExpressions[1].operator",
            id="the path points at the offending expression",
        ),
    ],
)
def test_invalid_selectors_name_the_field(selector: LabelSelector, path: str) -> None:
    with pytest.raises(InvalidSelectorError) as caught:
        compile_selector(selector, "spec.x")
    assert caught.value.field_path == path
    assert str(caught.value).startswith(path + ": ")
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, PlacementValidationError)


def test_string_operators_from_yaml_are_accepted() -> None:
    selector = LabelSelector(match_expressions=(LabelSelectorRequirement("a", "Exists"),))  # type: ignore[arg-type]
    assert compile_selector(selector, "s").matches({"a": "x"})
