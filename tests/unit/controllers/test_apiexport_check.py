"""``check_export``: what the APIExport controller finds wrong with an export, and what it may repair."""

from __future__ import annotations

from typing import Any

import pytest

from tmc.controllers.apiexport.check import check_export
from tmc.install.desired import ExportPlan

JSON = dict[str, Any]


def schema(name: str, group: str, plural: str) -> JSON:
    return {"metadata": {"name": name}, "spec": {"group": group, "names": {"plural": plural}}}


DEPLOYMENTS = schema("v1.deployments.apps", "apps", "deployments")
SERVICES = schema("v2.services.core", "", "services")  # the core group is "" but names end in ".core"
PLAN = ExportPlan("kubernetes", (DEPLOYMENTS, SERVICES), ())


def export(*resources: tuple[str, str, str]) -> JSON:
    return {
        "metadata": {"name": "kubernetes"},
        "spec": {"resources": [{"name": n, "group": g, "schema": s} for n, g, s in resources]},
        "status": {"identityHash": "abc"},
    }


CORRECT = export(("deployments", "apps", "v1.deployments.apps"), ("services", "", "v2.services.core"))
BOTH = {"v1.deployments.apps": DEPLOYMENTS, "v2.services.core": SERVICES}


@pytest.mark.parametrize(
    ("current", "existing", "expected"),
    [
        pytest.param(CORRECT, BOTH, [], id="a correct export with a core-group schema has no findings"),
        pytest.param(
            CORRECT,
            {**BOTH, "v2.services.core": schema("v2.services.core", "core", "services")},
            [("SchemaMismatch", None)],
            id="a schema serving another group than the plan's is a mismatch nobody repairs",
        ),
        pytest.param(
            CORRECT,
            {"v1.deployments.apps": DEPLOYMENTS},
            [("SchemaMissing", "create-schema:v2.services.core")],
            id="a deleted schema is recreated",
        ),
        pytest.param(
            export(("deployments", "apps", "apps.v1.Deployment"), ("services", "", "v2.services.core")),
            BOTH,
            [("UnexpectedSchema", "apply-export")],
            id="a reference to a schema TMC does not define is repaired by applying the export",
        ),
    ],
)
def test_check_export(current: JSON, existing: dict[str, JSON], expected: list[tuple[str, str | None]]) -> None:
    findings = check_export(current, existing, PLAN, {}, ["https://kcp/services/apiexport/root:tmc/kubernetes"])
    assert [(finding.code, finding.repair) for finding in findings] == expected
