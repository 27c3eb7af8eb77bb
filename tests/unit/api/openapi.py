"""A minimal Kubernetes-flavoured OpenAPI v3 validator, defaulter and structural-schema checker.

Covers what TMC's schemas use: type, required, properties, additionalProperties, items, enum,
pattern, format date-time, min/max (Length, Items, imum), list types, preserve-unknown-fields,
defaults, and ``x-kubernetes-validations`` (evaluated with :mod:`tests.unit.api.cel`).
Unknown fields are reported instead of pruned, so typos in examples are caught.
"""

from __future__ import annotations

import copy
import re
from datetime import datetime
from typing import Any

from tests.unit.api.cel import CelError, evaluate, parse, selected_fields

Error = tuple[str, str]

_SCALARS = ("string", "integer", "number", "boolean")
_FORBIDDEN_KEYS = ("$ref", "anyOf", "oneOf", "allOf", "not", "const", "definitions", "$defs", "nullable")


def _type_ok(kind: str, value: Any) -> bool:
    if kind == "object":
        return isinstance(value, dict)
    if kind == "array":
        return isinstance(value, list)
    if kind == "string":
        return isinstance(value, str)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    raise AssertionError(f"unknown type {kind}")


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def validate(schema: dict[str, Any], value: Any, path: str = "") -> list[Error]:
    """All (path, message) violations of ``value`` against ``schema``; paths like ``spec.a[0].b``."""
    if schema.get("x-kubernetes-int-or-string"):
        if not (isinstance(value, str) or _type_ok("integer", value)):
            return [(path, "must be an integer or a string")]
        return []
    kind = schema.get("type")
    if kind is None:
        return []  # preserve-unknown-fields without a type: anything goes
    if not _type_ok(kind, value):
        return [(path, f"must be of type {kind}, got {type(value).__name__}")]
    errors: list[Error] = []
    if "enum" in schema and value not in schema["enum"]:
        errors.append((path, f"must be one of {schema['enum']}"))
    if kind == "string":
        if "pattern" in schema and re.search(schema["pattern"], value) is None:
            errors.append((path, f"must match {schema['pattern']}"))
        if "minLength" in schema and len(value) < schema["minLength"]:
            errors.append((path, f"must be at least {schema['minLength']} characters"))
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append((path, f"must be at most {schema['maxLength']} characters"))
        if schema.get("format") == "date-time":
            try:
                parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                errors.append((path, "must be an RFC 3339 date-time"))
            else:
                if parsed.tzinfo is None:
                    errors.append((path, "must be an RFC 3339 date-time with a time zone"))
    if kind in ("integer", "number"):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append((path, f"must be >= {schema['minimum']}"))
        if "maximum" in schema and value > schema["maximum"]:
            errors.append((path, f"must be <= {schema['maximum']}"))
    if kind == "array":
        if "minItems" in schema and len(value) < schema["minItems"]:
            errors.append((path, f"must have at least {schema['minItems']} items"))
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append((path, f"must have at most {schema['maxItems']} items"))
        for index, item in enumerate(value):
            errors += validate(schema["items"], item, f"{path}[{index}]")
        list_type = schema.get("x-kubernetes-list-type")
        if list_type in ("map", "set"):
            keys = schema.get("x-kubernetes-list-map-keys", [])
            seen: set[str] = set()
            for index, item in enumerate(value):
                key = repr([item.get(k) for k in keys]) if list_type == "map" else repr(item)
                if key in seen:
                    errors.append((f"{path}[{index}]", "duplicate entry"))
                seen.add(key)
    if kind == "object" and path == "metadata":
        return errors  # ObjectMeta is validated by the apiserver itself, never by the CRD schema
    if kind == "object":
        for name in schema.get("required", ()):
            if name not in value:
                errors.append((_join(path, name), "required"))
        properties = schema.get("properties", {})
        extra_schema = schema.get("additionalProperties")
        for name, item in value.items():
            if name in properties:
                errors += validate(properties[name], item, _join(path, name))
            elif isinstance(extra_schema, dict):
                errors += validate(extra_schema, item, _join(path, name))
            elif not schema.get("x-kubernetes-preserve-unknown-fields"):
                errors.append((_join(path, name), "unknown field"))
    if not errors:
        for rule in schema.get("x-kubernetes-validations", ()):
            where = path + rule.get("fieldPath", "")
            try:
                ok = evaluate(rule["rule"], value)
            except CelError as exc:
                errors.append((where, f"{rule['message']} (evaluation error: {exc})"))
                continue
            if ok is not True:
                errors.append((where, rule["message"]))
    return errors


def apply_defaults(schema: dict[str, Any], value: Any) -> Any:
    """``value`` with the schema's defaults filled in, the way the apiserver defaults objects."""
    value = copy.deepcopy(value)
    _default(schema, value)
    return value


def _default(schema: dict[str, Any], value: Any) -> None:
    if isinstance(value, dict):
        for name, sub in schema.get("properties", {}).items():
            if name not in value and "default" in sub:
                value[name] = copy.deepcopy(sub["default"])
            if name in value:
                _default(sub, value[name])
    elif isinstance(value, list) and "items" in schema:
        for item in value:
            _default(schema["items"], item)


def walk(schema: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every schema node with its path (``.name`` for properties, ``[]`` for items, ``.*`` for maps)."""
    nodes = [(path, schema)]
    for name, sub in schema.get("properties", {}).items():
        nodes += walk(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        nodes += walk(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        nodes += walk(schema["additionalProperties"], f"{path}.*")
    return nodes


def structural_problems(schema: dict[str, Any]) -> list[str]:
    """Why ``schema`` is not a valid structural schema for a CRD / APIResourceSchema (empty: it is)."""
    problems: list[str] = []
    root_metadata = schema.get("properties", {}).get("metadata")
    if root_metadata is not None and root_metadata != {"type": "object"}:
        problems.append(".metadata: only {type: object} is allowed at the root")
    for path, node in walk(schema):
        where = path or "<root>"
        for key in _FORBIDDEN_KEYS:
            if key in node:
                problems.append(f"{where}: {key} is not allowed")
        typed = (
            "type" in node or node.get("x-kubernetes-preserve-unknown-fields") or node.get("x-kubernetes-int-or-string")
        )
        if not typed:
            problems.append(f"{where}: no type")
        if "properties" in node and "additionalProperties" in node:
            problems.append(f"{where}: properties and additionalProperties are mutually exclusive")
        if node.get("additionalProperties") is False or node.get("additionalProperties") is True:
            problems.append(f"{where}: additionalProperties must be a schema")
        if node.get("type") == "array" and "items" not in node:
            problems.append(f"{where}: array without items")
        for name in node.get("required", ()):
            if name not in node.get("properties", {}):
                problems.append(f"{where}: required property {name} is not defined")
        if "default" in node:
            for error_path, message in validate(node, node["default"], "default"):
                problems.append(f"{where}: default invalid at {error_path}: {message}")
        problems += _list_type_problems(where, node)
        problems += _rule_problems(where, node)
    return problems


def _list_type_problems(where: str, node: dict[str, Any]) -> list[str]:
    list_type = node.get("x-kubernetes-list-type")
    if list_type is None:
        if "x-kubernetes-list-map-keys" in node:
            return [f"{where}: list-map-keys without list-type map"]
        return []
    if node.get("type") != "array":
        return [f"{where}: list-type on a non-array"]
    items = node["items"]
    if list_type == "set":
        return [] if items.get("type") in _SCALARS else [f"{where}: set items must be scalars"]
    if list_type == "map":
        problems = []
        if items.get("type") != "object":
            problems.append(f"{where}: map items must be objects")
        keys = node.get("x-kubernetes-list-map-keys") or []
        if not keys:
            problems.append(f"{where}: list-type map without keys")
        for key in keys:
            prop = items.get("properties", {}).get(key)
            if prop is None:
                problems.append(f"{where}: map key {key} is not a property")
            elif prop.get("type") not in _SCALARS:
                problems.append(f"{where}: map key {key} must be a scalar")
            elif key not in items.get("required", ()) and "default" not in prop:
                problems.append(f"{where}: map key {key} must be required or defaulted")
        return problems
    if list_type != "atomic":
        return [f"{where}: unknown list-type {list_type}"]
    return []


def _rule_problems(where: str, node: dict[str, Any]) -> list[str]:
    problems = []
    properties = node.get("properties", {})
    for rule in node.get("x-kubernetes-validations", ()):
        if not rule.get("rule") or not rule.get("message"):
            problems.append(f"{where}: rule without rule text or message: {rule}")
            continue
        try:
            fields = selected_fields(parse(rule["rule"]))
        except CelError as exc:
            problems.append(f"{where}: rule {rule['rule']!r} does not parse: {exc}")
            continue
        for name in sorted(fields - set(properties)):
            problems.append(f"{where}: rule {rule['rule']!r} refers to unknown field self.{name}")
        field_path = rule.get("fieldPath")
        if field_path is not None and field_path.lstrip(".") not in properties:
            problems.append(f"{where}: fieldPath {field_path} is not a property")
    return problems
