"""docs/api-reference.md is generated from the models and cannot drift from them."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from tmc.api import ALL_RESOURCES, Condition, LabelSelector, ObjectMeta, reference

REFERENCE = Path(__file__).resolve().parents[3] / "docs" / "api-reference.md"


def test_the_committed_reference_is_up_to_date() -> None:
    expected = reference.render_reference()
    actual = REFERENCE.read_text(encoding="utf-8")

    assert actual == expected, "run: python -m tmc.api.reference --write docs/api-reference.md"


def test_the_check_mode_reports_drift(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stale = tmp_path / "api-reference.md"
    stale.write_text("old\n", encoding="utf-8")

    assert reference.main(["--check", str(stale)]) == 1
    assert "out of date" in capsys.readouterr().out
    assert reference.main(["--write", str(stale)]) == 0
    assert reference.main(["--check", str(stale)]) == 0


def test_the_reference_documents_every_kind_field_and_rule() -> None:
    text = reference.render_reference()

    for info in ALL_RESOURCES:
        assert f"## {info.kind}" in text or f"### {info.kind}" in text
        assert info.api_resource_schema_name() in text
    for path in (
        "`spec.location`",
        "`spec.capabilities[].available`",
        "`spec.replicaDivision.staticWeights[].weight`",
        "`spec.clusters[].replicas`",
        "`matchExpressions[].operator`",
    ):
        assert path in text
    assert "numberOfClusters.max must be greater than or equal to numberOfClusters.min" in text
    assert "does **not** match" in text  # the location-vs-region-label note


def _all_models() -> set[type[BaseModel]]:
    found: set[type[BaseModel]] = set()

    def visit(model: type[BaseModel]) -> None:
        if model in found:
            return
        found.add(model)
        for info in model.model_fields.values():
            nested = reference._nested_model(info.annotation)
            if nested is not None:
                visit(nested)

    for info in ALL_RESOURCES:
        if info.model is not None:  # generated workload kinds have no model
            visit(info.model)
    return found


def test_every_model_field_has_a_description() -> None:
    models = _all_models()
    assert {LabelSelector, Condition, ObjectMeta} <= models
    missing = [
        f"{model.__name__}.{name}"
        for model in models
        for name, info in model.model_fields.items()
        if not (info.description and len(info.description) > 5)
    ]
    assert missing == []
