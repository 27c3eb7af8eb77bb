"""Kubernetes OpenAPI v3 -> structural schemas kcp accepts in an APIResourceSchema.

A kube-apiserver publishes its types under ``/openapi/v3/<group-version>``: named schemas under
``components.schemas``, fields pointing at them with ``$ref`` (wrapped in ``allOf`` when the field adds a
description or default). kcp, like a CRD, wants one self-contained *structural* schema per kind: no ``$ref``,
a ``type`` on every node (except int-or-string and preserve-unknown-fields nodes), no ``anyOf``/``oneOf``
(TMC uses none), list-map keys required or defaulted, and only the ``x-kubernetes-*`` extensions the
CRD schema type knows.

The conversion follows kcp's crd-puller (virtual-workspace-framework ``crdpuller``) where it applies and
departs from it on purpose in three places:

- ``Quantity`` (``oneOf: string | number``) becomes an untyped ``x-kubernetes-preserve-unknown-fields`` node,
  not crd-puller's int-or-string: Kubernetes accepts ``cpu: 0.5`` (a JSON number) and a structural schema can
  say "string or integer" but not "string or number"; rejecting valid manifests is worse than leaving the
  quantity's format to the cluster, whose message the sync engine reports.
- ``default`` values that are Go zero values (``""``, ``0``, ``false``, ``{}``, ``[]``) are dropped. The
  OpenAPI publishes them for non-pointer fields, but the apiserver *validates* those fields after decoding:
  a container without ``name`` is refused ("Required value"), whereas a CRD would default ``name: ""`` and
  then find the required field present. Real defaults (``protocol: TCP``) are kept; list-map keys need them.
- Nested ``ObjectMeta`` (pod templates, claim templates) keeps its full schema, so label and annotation
  values are type-checked as on the cluster; only the root ``metadata`` is a plain object (kcp validates it).

Anything the converter does not know raises :class:`StructuralSchemaError`, so a new OpenAPI feature is a
decision for a human, never silently dropped.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]

REF_PREFIX = "#/components/schemas/"

INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"

# Named types whose published shape is not structural (oneOf) or that crd-puller and controller-tools
# special-case; the value is the schema used instead (a description is added from the field or the type).
_KNOWN: dict[str, JSON] = {
    # No anyOf: kcp (like a CRD) already types an int-or-string node as integer-or-string; controller-gen's
    # extra anyOf branch adds nothing, and a schema without anyOf is checked by the simplest rule.
    INT_OR_STRING: {"x-kubernetes-int-or-string": True},
    QUANTITY: {"x-kubernetes-preserve-unknown-fields": True},
    "io.k8s.apimachinery.pkg.apis.meta.v1.Time": {"type": "string", "format": "date-time"},
    "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime": {"type": "string", "format": "date-time"},
    # managedFields[].fieldsV1 is a recursive set of field paths; kept as opaque JSON, as crd-puller does.
    "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    "io.k8s.apimachinery.pkg.runtime.RawExtension": {
        "type": "object",
        "x-kubernetes-embedded-resource": True,
        "x-kubernetes-preserve-unknown-fields": True,
    },
}

# Keys copied as they are (after converting nested schemas).
_KEPT = frozenset(
    {
        "description",
        "type",
        "format",
        "required",
        "enum",
        "pattern",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "minLength",
        "maxLength",
        "minItems",
        "maxItems",
        "minProperties",
        "maxProperties",
        "multipleOf",
        "x-kubernetes-list-type",
        "x-kubernetes-list-map-keys",
        "x-kubernetes-map-type",
        "x-kubernetes-int-or-string",
        "x-kubernetes-preserve-unknown-fields",
        "x-kubernetes-embedded-resource",
        "x-kubernetes-validations",
    }
)
# Keys APIResourceSchema (the CRD schema type) has no field for, with why they may go.
DROPPED: dict[str, str] = {
    "x-kubernetes-patch-strategy": "strategic merge patch hint; kcp serves JSON, merge and apply patches",
    "x-kubernetes-patch-merge-key": "strategic merge patch hint; list-map keys carry the same for apply",
    "x-kubernetes-group-version-kind": "discovery hint; the APIResourceSchema names the kind",
    "x-kubernetes-unions": "union hint, not enforced by the apiserver's schema either",
    "default": "Go zero-value default (see module docstring); non-zero defaults are kept",
}
_STRUCTURE = frozenset({"properties", "additionalProperties", "items", "allOf", "$ref", "default"})


class StructuralSchemaError(ValueError):
    """The OpenAPI document holds something this converter cannot turn into a structural schema."""


@dataclass
class Conversion:
    """What was dropped or adjusted while converting, for the generator's summary."""

    dropped: Counter[str] = field(default_factory=Counter)
    adjustments: list[str] = field(default_factory=list)


# Marks a dropped zero-value default until the enclosing list decides whether the field is a list-map key.
_ZERO_DEFAULT = "x-tmc-zero-default"


def _zero(value: Any) -> bool:
    return value is False or value in ("", 0, {}, [])


def _ref_name(ref: str) -> str:
    if not ref.startswith(REF_PREFIX):
        raise StructuralSchemaError(f"unsupported $ref {ref!r}: only {REF_PREFIX}<name> is resolved")
    return ref[len(REF_PREFIX) :]


class _Converter:
    def __init__(self, schemas: dict[str, JSON], conversion: Conversion) -> None:
        self.schemas = schemas
        self.conversion = conversion
        self.stack: list[str] = []

    def named(self, name: str, where: str, *, root_metadata: bool = False) -> JSON:
        if root_metadata and name == OBJECT_META:
            # kcp (like a CRD) validates the root metadata itself and allows no schema beyond its type.
            return {"type": "object"}
        if name in self.stack:
            chain = " -> ".join([*self.stack, name])
            raise StructuralSchemaError(f"{where}: recursive schema {chain} cannot be structural")
        if name in _KNOWN:
            out = dict(_KNOWN[name])
            description = self.schemas.get(name, {}).get("description")
            if description:
                out["description"] = description
            return out
        if name not in self.schemas:
            raise StructuralSchemaError(f"{where}: $ref to {name!r}, which the document does not define")
        self.stack.append(name)
        try:
            return self.node(self.schemas[name], where)
        finally:
            self.stack.pop()

    def node(self, raw: JSON, where: str) -> JSON:
        if "$ref" in raw:
            extra = set(raw) - {"$ref", "description"}
            if extra:
                raise StructuralSchemaError(f"{where}: $ref with siblings {sorted(extra)}")
            named = self.named(_ref_name(raw["$ref"]), where)
            if raw.get("description"):
                named["description"] = raw["description"]
            return named
        if "allOf" in raw:
            return self._wrapped_ref(raw, where)
        unknown = set(raw) - _KEPT - _STRUCTURE - set(DROPPED)
        if unknown:
            raise StructuralSchemaError(f"{where}: unsupported schema keys {sorted(unknown)}")
        out: JSON = {}
        for key, value in raw.items():
            if key in _KEPT:
                out[key] = value
            elif key == "properties":
                out[key] = {
                    name: self.property(sub, f"{where}.{name}", root=False) for name, sub in sorted(value.items())
                }
            elif key == "additionalProperties":
                if value is True:
                    out["x-kubernetes-preserve-unknown-fields"] = True
                elif isinstance(value, dict):
                    out[key] = self.node(value, f"{where}[*]")
                else:
                    raise StructuralSchemaError(f"{where}: additionalProperties {value!r} is not supported")
            elif key == "items":
                out[key] = self.node(value, f"{where}[]")
            elif key == "default":
                self._default(out, value, where)
            else:
                self.conversion.dropped[key] += 1
        self._check_list(out, where)
        if "type" not in out and not (
            out.get("x-kubernetes-int-or-string") or out.get("x-kubernetes-preserve-unknown-fields")
        ):
            raise StructuralSchemaError(f"{where}: no type; a structural schema needs one")
        return out

    def property(self, raw: JSON, where: str, *, root: bool) -> JSON:
        if root and where.endswith(".metadata"):
            ref = raw.get("$ref") or next(iter(raw.get("allOf", [{}]))).get("$ref", "")
            if ref and _ref_name(ref) == OBJECT_META:
                return self.named(OBJECT_META, where, root_metadata=True)
        return self.node(raw, where)

    def _wrapped_ref(self, raw: JSON, where: str) -> JSON:
        parts = raw["allOf"]
        if len(parts) != 1 or set(parts[0]) != {"$ref"}:
            raise StructuralSchemaError(f"{where}: allOf is only supported as a wrapper of one $ref")
        extra = set(raw) - {"allOf", "description", "default"} - set(DROPPED) - _KEPT
        if extra:
            raise StructuralSchemaError(f"{where}: allOf wrapper with unsupported keys {sorted(extra)}")
        out = self.named(_ref_name(parts[0]["$ref"]), where)
        for key, value in raw.items():
            if key == "description":
                out["description"] = value
            elif key == "default":
                self._default(out, value, where)
            elif key in _KEPT:
                out[key] = value
            elif key != "allOf":
                self.conversion.dropped[key] += 1
        self._check_list(out, where)
        return out

    def _default(self, out: JSON, value: Any, where: str) -> None:
        if _zero(value):
            out[_ZERO_DEFAULT] = value
            return
        if isinstance(value, dict | list):
            raise StructuralSchemaError(f"{where}: non-empty structured default {value!r} is not supported")
        out["default"] = value

    def _check_list(self, out: JSON, where: str) -> None:
        """List-map keys must be required or defaulted (kcp refuses the schema otherwise).

        An optional key keeps its zero-value default, which is what the apiserver's decoding gives it
        (``imagePullSecrets: [{}]`` is stored as ``[{name: ""}]`` and accepted with a warning); a key with
        neither is made required, as crd-puller does, and reported.
        """
        keys = out.get("x-kubernetes-list-map-keys")
        if not keys:
            return
        item = out.get("items", {})
        properties = item.get("properties", {})
        required = list(item.get("required", []))
        for key in keys:
            if key not in properties:
                raise StructuralSchemaError(f"{where}: list-map key {key!r} is not a property of the items")
            prop = properties[key]
            if key in required or "default" in prop:
                continue
            if _ZERO_DEFAULT in prop:
                prop["default"] = prop.pop(_ZERO_DEFAULT)
                self.conversion.adjustments.append(f"{where}: optional list-map key {key!r} keeps its default")
            else:
                required.append(key)
                self.conversion.adjustments.append(f"{where}: list-map key {key!r} made required")
        if required:
            item["required"] = required


def structural_schema(document: JSON, name: str, conversion: Conversion | None = None) -> JSON:
    """The structural schema of the kind ``name`` (``io.k8s.api.apps.v1.Deployment``) in an OpenAPI v3 document."""
    schemas = document.get("components", {}).get("schemas", {})
    if name not in schemas:
        raise StructuralSchemaError(f"{name} is not in the document's components.schemas")
    conversion = conversion if conversion is not None else Conversion()
    converter = _Converter(schemas, conversion)
    raw = schemas[name]
    converter.stack.append(name)
    top = {key: value for key, value in raw.items() if key != "properties"}
    out = converter.node(top, name)
    out["properties"] = {
        prop: converter.property(sub, f"{name}.{prop}", root=True) for prop, sub in sorted(raw["properties"].items())
    }
    conversion.dropped["default"] += _strip_zero_defaults(out)
    return out


def _strip_zero_defaults(node: Any) -> int:
    """Remove the zero-default marks no list-map key claimed; returns how many."""
    if isinstance(node, list):
        return sum(_strip_zero_defaults(item) for item in node)
    if not isinstance(node, dict):
        return 0
    count = 0
    if _ZERO_DEFAULT in node:
        del node[_ZERO_DEFAULT]
        count = 1
    return count + sum(_strip_zero_defaults(value) for value in node.values())


def kind_schema_name(document: JSON, group: str, version: str, kind: str) -> str:
    """The components.schemas key whose ``x-kubernetes-group-version-kind`` is the given kind."""
    matches: list[str] = [
        str(name)
        for name, schema in document.get("components", {}).get("schemas", {}).items()
        if {"group": group, "version": version, "kind": kind} in schema.get("x-kubernetes-group-version-kind", [])
    ]
    if len(matches) != 1:
        raise StructuralSchemaError(f"expected one schema for {group}/{version} {kind}, found {matches}")
    return matches[0]


def structural_problems(schema: JSON, where: str = "") -> list[str]:
    """Why ``schema`` would not be structural (empty when it is): the checks kcp's admission applies first."""
    problems: list[str] = []
    for key in schema:
        if key not in _KEPT and key not in {"properties", "additionalProperties", "items", "default"}:
            problems.append(f"{where or '<root>'}: key {key!r} is not allowed")
    typed = "type" in schema
    if not typed and not (
        schema.get("x-kubernetes-int-or-string") or schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        problems.append(f"{where or '<root>'}: no type")
    if ("properties" in schema or "additionalProperties" in schema) and schema.get("type") != "object":
        problems.append(f"{where or '<root>'}: properties on a non-object")
    if "properties" in schema and "additionalProperties" in schema:
        problems.append(f"{where or '<root>'}: both properties and additionalProperties")
    if "items" in schema and schema.get("type") != "array":
        problems.append(f"{where or '<root>'}: items on a non-array")
    if schema.get("type") == "array" and "items" not in schema:
        problems.append(f"{where or '<root>'}: array without items")
    for name, sub in schema.get("properties", {}).items():
        problems += structural_problems(sub, f"{where}.{name}")
    if isinstance(schema.get("additionalProperties"), dict):
        problems += structural_problems(schema["additionalProperties"], f"{where}[*]")
    if "items" in schema:
        problems += structural_problems(schema["items"], f"{where}[]")
    keys = schema.get("x-kubernetes-list-map-keys")
    if keys:
        item = schema.get("items", {})
        for key in keys:
            prop = item.get("properties", {}).get(key)
            if prop is None or (key not in item.get("required", []) and "default" not in prop):
                problems.append(f"{where}: list-map key {key!r} neither required nor defaulted")
    return problems
