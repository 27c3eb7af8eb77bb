"""Builders and lookups shared by the ``tmc.api`` tests."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from tests.unit.api.openapi import Error, apply_defaults, validate
from tmc.api import get_resource

SEED = Path(__file__).parent / "testdata" / "tmc-integration-with-kcp.md"
"""A verbatim copy of the user's seed document (``/work/shared/seed``)."""


@cache
def seed_examples() -> dict[int, dict[str, Any]]:
    """The YAML examples of the seed's "Usage Examples", keyed by their number (``### 3. ...`` -> 3)."""
    text = SEED.read_text(encoding="utf-8")
    blocks = re.findall(r"^### (\d+)\. [^\n]*\n+```yaml\n(.*?)^```", text, flags=re.M | re.S)
    return {int(number): yaml.safe_load(body) for number, body in blocks}


def seed_example(number: int) -> dict[str, Any]:
    import copy

    return copy.deepcopy(seed_examples()[number])


def loc_path(loc: tuple[int | str, ...]) -> str:
    """A pydantic error location as a field path: ``("spec", "a", 0, "b")`` -> ``spec.a[0].b``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out = f"{out}.{part}" if out else part
    return out


def pydantic_error_paths(exc: ValidationError) -> list[str]:
    return [loc_path(error["loc"]) for error in exc.errors()]


def schema_errors(kind: str, obj: dict[str, Any]) -> list[Error]:
    """What the apiserver would say: defaults applied, then the rendered schema (with CEL) checked."""
    schema = get_resource(kind).openapi_schema()
    return validate(schema, apply_defaults(schema, obj))


def placement(spec: dict[str, Any], **metadata: Any) -> dict[str, Any]:
    return {
        "apiVersion": "tmc.kcp.io/v1alpha1",
        "kind": "WorkloadPlacement",
        "metadata": {"name": "p", **metadata},
        "spec": spec,
    }


def registration(spec: dict[str, Any], **metadata: Any) -> dict[str, Any]:
    return {
        "apiVersion": "tmc.kcp.io/v1alpha1",
        "kind": "ClusterRegistration",
        "metadata": {"name": "c", **metadata},
        "spec": spec,
    }
