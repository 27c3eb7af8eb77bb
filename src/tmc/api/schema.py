"""Render pydantic models to Kubernetes structural OpenAPI v3 schemas.

Pydantic's JSON schema is post-processed into what the apiserver (and kcp's APIResourceSchema
admission) accepts: every ``$ref`` inlined, ``anyOf [X, null]`` collapsed to ``X``, ``const`` turned
into a one-value ``enum``, titles and ``additionalProperties: false`` dropped, free-form objects
marked ``x-kubernetes-preserve-unknown-fields``, and every node checked to carry a ``type``.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel

from tmc.api._base import ApiModel, unwrap_text

_DATA_KEYS = frozenset({"default", "enum", "example", "x-kubernetes-validations", "required"})
_KEY_ORDER = (
    "type",
    "description",
    "format",
    "enum",
    "default",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "required",
    "properties",
    "additionalProperties",
    "items",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-int-or-string",
    "x-kubernetes-validations",
)
_DROP = frozenset({"title", "examples"})


class SchemaError(ValueError):
    """The model cannot be expressed as a Kubernetes structural schema."""


def _ordered(node: dict[str, Any]) -> dict[str, Any]:
    rank = {key: index for index, key in enumerate(_KEY_ORDER)}
    return {key: node[key] for key in sorted(node, key=lambda k: (rank.get(k, len(rank)), k))}


def _ordered_rule(rule: dict[str, Any]) -> dict[str, Any]:
    order = ("rule", "message", "messageExpression", "fieldPath", "reason", "optionalOldSelf")
    return {key: rule[key] for key in sorted(rule, key=lambda k: order.index(k) if k in order else len(order))}


def _convert(node: dict[str, Any], defs: dict[str, Any], path: str) -> dict[str, Any]:
    node = dict(node)
    base: dict[str, Any] | None = None
    if "$ref" in node:
        name = node.pop("$ref").rsplit("/", 1)[-1]
        base = _convert(defs[name], defs, path)
    elif "allOf" in node:
        parts = node.pop("allOf")
        if len(parts) != 1:
            raise SchemaError(f"{path or '<root>'}: allOf with {len(parts)} parts is not structural")
        base = _convert(parts[0], defs, path)
    elif "anyOf" in node or "oneOf" in node:
        options = node.pop("anyOf", None) or node.pop("oneOf")
        non_null = [option for option in options if option.get("type") != "null"]
        if len(non_null) != 1:
            raise SchemaError(f"{path or '<root>'}: a union of {len(non_null)} types is not structural")
        base = _convert(non_null[0], defs, path)

    out: dict[str, Any] = dict(base) if base is not None else {}
    for key, value in node.items():
        if key in _DROP:
            continue
        if key == "default" and value is None:
            continue
        if key == "const":
            out["enum"] = [value]
        elif key == "properties":
            out["properties"] = {name: _convert(sub, defs, f"{path}.{name}") for name, sub in value.items()}
        elif key == "items":
            out["items"] = _convert(value, defs, f"{path}[]")
        elif key == "additionalProperties":
            if value is False:
                continue
            if value is True or value == {}:
                out["x-kubernetes-preserve-unknown-fields"] = True
            else:
                out["additionalProperties"] = _convert(value, defs, f"{path}.*")
        elif key == "description":
            out[key] = unwrap_text(value)
        elif key == "x-kubernetes-validations":
            out[key] = [_ordered_rule(rule) for rule in value]
        elif key in _DATA_KEYS:
            out[key] = copy.deepcopy(value)
        else:
            out[key] = value

    if "properties" in out and "additionalProperties" in out:
        raise SchemaError(f"{path or '<root>'}: properties and additionalProperties are mutually exclusive")
    if out.get("type") == "string" and "enum" in out and "maxLength" not in out:
        # Bounds the cost the apiserver estimates for CEL rules comparing this field.
        out["maxLength"] = max(len(str(value)) for value in out["enum"])
    if (
        "type" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
        and not out.get("x-kubernetes-int-or-string")
    ):
        raise SchemaError(f"{path or '<root>'}: schema node has no type")
    return _ordered(out)


def model_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The structural OpenAPI v3 schema of ``model``, keys camelCase, all references inlined."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs = raw.pop("$defs", {})
    return _convert(raw, defs, "")


_API_VERSION_DESCRIPTION = (
    "APIVersion defines the versioned schema of this representation of an object."
    " Servers should convert recognized schemas to the latest internal value, and may reject"
    " unrecognized values."
)
_KIND_DESCRIPTION = (
    "Kind is a string value representing the REST resource this object represents."
    " Servers may infer this from the endpoint the client submits requests to. In CamelCase."
)


def object_schema(model: type[ApiModel]) -> dict[str, Any]:
    """The ``openAPIV3Schema`` of a top-level kind.

    ``apiVersion``, ``kind`` and ``metadata`` are rendered the way Kubernetes expects them.
    """
    schema = model_schema(model)
    properties = dict(schema["properties"])
    properties["apiVersion"] = {"type": "string", "description": _API_VERSION_DESCRIPTION}
    properties["kind"] = {"type": "string", "description": _KIND_DESCRIPTION}
    properties["metadata"] = {"type": "object"}
    schema["properties"] = properties
    return _ordered(schema)
