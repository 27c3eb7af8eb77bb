"""The generated workload schemas: committed for all 8 kinds, structural, installed and claimed.

The committed files come from a real kube-apiserver (tests/e2e/test_workload_schemas.py regenerates and
compares them); these tests check what kcp needs of them without a server, and the converter and the
column mapping on small hand-written inputs.
"""

from __future__ import annotations

import copy
import json
import re
from importlib import resources
from typing import Any

import pytest

from tests.unit.api.openapi import structural_problems as checker_problems
from tests.unit.api.openapi import validate, walk
from tests.unit.api.workload_manifests import INVALID, VALID, InvalidCase
from tmc.api import DEPLOYMENT, WORKLOAD_RESOURCES, ResourceInfo, get_resource
from tmc.api.claims import READ_VERBS, TMC_PERMISSION_CLAIMS, WORKLOAD_VERBS
from tmc.api.workloads import SCHEMA_DIR, WORKLOAD_KINDS, generated_schema, read_schema_text, serialize
from tmc.install.bind import binding_body
from tmc.install.desired import export_body, export_plans
from tmc.install.generate_workloads import ServerApi, build_spec
from tmc.install.structural import Conversion, StructuralSchemaError, kind_schema_name, structural_schema
from tmc.install.structural import structural_problems as converter_problems
from tmc.install.workload_columns import ColumnMappingError, printer_columns

KINDS = [info.kind for info in WORKLOAD_RESOURCES]
EXPECTED_KINDS = [
    ("apps", "Deployment"),
    ("apps", "StatefulSet"),
    ("apps", "DaemonSet"),
    ("batch", "Job"),
    ("batch", "CronJob"),
    ("", "Service"),
    ("", "PersistentVolumeClaim"),
    ("networking.k8s.io", "Ingress"),
]


def _nodes(info: ResourceInfo) -> list[tuple[str, dict[str, Any]]]:
    return walk(info.openapi_schema())


# --- the committed files -------------------------------------------------------------------------------------


def test_every_workload_kind_has_exactly_one_committed_schema() -> None:
    assert [(kind.group, kind.kind) for kind in WORKLOAD_KINDS] == EXPECTED_KINDS
    folder = resources.files("tmc.api").joinpath(SCHEMA_DIR)
    committed = sorted(entry.name for entry in folder.iterdir() if entry.name.endswith(".json"))
    assert committed == sorted(kind.file_name for kind in WORKLOAD_KINDS)


@pytest.mark.parametrize("kind", WORKLOAD_KINDS, ids=[k.kind for k in WORKLOAD_KINDS])
def test_a_committed_file_is_in_the_generators_exact_format(kind: Any) -> None:
    """Hand edits show up here (re-serializing changes the text) and as drift in the e2e regeneration."""
    schema = generated_schema(kind)
    assert read_schema_text(kind) == serialize(schema.source, schema.spec)
    assert schema.source["generator"] == "hack/generate-workload-schemas"
    assert re.fullmatch(r"v1\.\d+\.\d+", schema.source["kubeApiserver"])


@pytest.mark.parametrize("info", WORKLOAD_RESOURCES, ids=KINDS)
def test_the_schema_is_structural(info: ResourceInfo) -> None:
    schema = info.openapi_schema()
    assert "$ref" not in json.dumps(schema)
    assert converter_problems(schema) == []
    assert checker_problems(schema) == []
    for path, node in walk(schema):
        if "properties" in node or "additionalProperties" in node:
            assert node.get("type") == "object", path
        if "type" not in node:  # only the two untyped shapes a structural schema allows
            assert node.get("x-kubernetes-int-or-string") or node.get("x-kubernetes-preserve-unknown-fields"), path


@pytest.mark.parametrize("info", WORKLOAD_RESOURCES, ids=KINDS)
def test_only_quantities_and_managed_fields_are_left_unchecked(info: ResourceInfo) -> None:
    for path, node in _nodes(info):
        if not node.get("x-kubernetes-preserve-unknown-fields"):
            continue
        if "type" not in node:  # quantities: resource maps, a downward-API divisor, an emptyDir's size limit
            assert path.endswith((".*", ".divisor", ".sizeLimit")), f"{path} is untyped and not a quantity"
        else:
            assert path.endswith(".fieldsV1"), f"{path} keeps unknown fields"


@pytest.mark.parametrize("info", WORKLOAD_RESOURCES, ids=KINDS)
def test_root_metadata_is_a_plain_object_and_nested_metadata_is_typed(info: ResourceInfo) -> None:
    nodes = dict(_nodes(info))
    assert nodes[".metadata"] == {"type": "object"}
    templates = [path for path in nodes if path.endswith("template.metadata")]
    assert templates or info.kind in ("Service", "PersistentVolumeClaim", "Ingress")
    for path in templates:
        assert nodes[f"{path}.labels"]["additionalProperties"] == {"type": "string"}


def test_zero_value_defaults_are_gone_and_real_ones_kept() -> None:
    nodes = dict(_nodes(DEPLOYMENT))
    container = ".spec.template.spec.containers[]"
    assert "default" not in nodes[f"{container}.name"]
    assert "name" in nodes[container]["required"]
    assert nodes[f"{container}.ports[].protocol"]["default"] == "TCP"
    assert nodes[".spec.template.spec.imagePullSecrets[].name"]["default"] == ""  # optional list-map key
    defaults = {path: node["default"] for path, node in nodes.items() if "default" in node}
    zero = [path for path, value in defaults.items() if value in ("", 0, False, {}, [])]
    assert zero == [".spec.template.spec.imagePullSecrets[].name"]


def test_int_or_string_fields_are_typed_as_such() -> None:
    nodes = dict(_nodes(DEPLOYMENT))
    for path in (
        ".spec.strategy.rollingUpdate.maxSurge",
        ".spec.template.spec.containers[].readinessProbe.httpGet.port",
    ):
        assert nodes[path].get("x-kubernetes-int-or-string") is True, path
        assert "type" not in nodes[path]
        assert "anyOf" not in nodes[path]


@pytest.mark.parametrize(
    ("kind", "subresources"),
    [
        (
            "Deployment",
            {"status": {}, "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}},
        ),
        (
            "StatefulSet",
            {"status": {}, "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}},
        ),
        ("DaemonSet", {"status": {}}),
        ("Job", {"status": {}}),
        ("CronJob", {"status": {}}),
        ("Service", {"status": {}}),
        ("PersistentVolumeClaim", {"status": {}}),
        ("Ingress", {"status": {}}),
    ],
)
def test_status_and_scale_subresources_as_the_apiserver_has_them(kind: str, subresources: dict[str, Any]) -> None:
    (version,) = get_resource(kind).api_resource_schema_spec()["versions"]
    assert version["subresources"] == subresources


def _resolve(schema: dict[str, Any], json_path: str) -> dict[str, Any]:
    """The schema node a printer-column JSONPath points at; ``[*]`` and ``[?(...)]`` step into array items,
    a name under a map (``capacity.storage``) into the map's values."""
    node = schema
    for name, index in re.findall(r"\.([A-Za-z]+)(\[[^\]]*\])?", json_path):
        node = node["properties"][name] if "properties" in node else node["additionalProperties"]
        if index:
            node = node["items"]
    return node


@pytest.mark.parametrize("info", WORKLOAD_RESOURCES, ids=KINDS)
def test_printer_columns_point_at_fields_of_their_type(info: ResourceInfo) -> None:
    schema = info.openapi_schema()
    schema["properties"]["metadata"]["properties"] = {"creationTimestamp": {"type": "string"}}
    assert info.printer_columns[0].name != "Name"  # kcp adds Name itself
    assert any(c.name == "Age" and c.type == "date" for c in info.printer_columns)
    for column in info.printer_columns:
        target = _resolve(schema, column.json_path)
        if column.type in ("integer", "boolean"):
            assert target["type"] == column.type, column
        elif column.type == "date":
            assert target["type"] == "string", column
        else:  # a string column prints scalars as they are and objects as JSON
            assert target.get("type") in ("string", "object", "array") or "type" not in target, column


def test_names_scope_and_short_names_come_from_discovery() -> None:
    assert [(i.plural, i.short_names, i.scope) for i in WORKLOAD_RESOURCES] == [
        ("deployments", ("deploy",), "Namespaced"),
        ("statefulsets", ("sts",), "Namespaced"),
        ("daemonsets", ("ds",), "Namespaced"),
        ("jobs", (), "Namespaced"),
        ("cronjobs", ("cj",), "Namespaced"),
        ("services", ("svc",), "Namespaced"),
        ("persistentvolumeclaims", ("pvc",), "Namespaced"),
        ("ingresses", ("ing",), "Namespaced"),
    ]


def test_service_keeps_the_fields_the_sync_engine_strips() -> None:
    nodes = dict(_nodes(get_resource("Service")))
    assert nodes[".spec.clusterIP"]["type"] == "string"
    assert nodes[".spec.clusterIPs"]["type"] == "array"
    assert nodes[".spec.ports[].nodePort"]["type"] == "integer"


# --- manifests against the committed schemas -----------------------------------------------------------------


def _without_nulls(value: Any) -> Any:
    """kcp prunes nulls of non-nullable fields before validating (`creationTimestamp: null` in templates)."""
    if isinstance(value, dict):
        return {key: _without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value


@pytest.mark.parametrize("kind", list(VALID))
def test_a_valid_manifest_of_every_kind_passes_the_schema(kind: str) -> None:
    assert validate(get_resource(kind).openapi_schema(), _without_nulls(VALID[kind])) == []


@pytest.mark.parametrize("case", INVALID, ids=[case.id for case in INVALID])
def test_an_invalid_manifest_fails_at_the_named_field(case: InvalidCase) -> None:
    errors = validate(get_resource(case.kind).openapi_schema(), _without_nulls(case.manifest))
    assert [path for path, _ in errors] == [case.field], errors


def test_a_repeated_list_key_is_refused_as_server_side_apply_would() -> None:
    manifest = copy.deepcopy(VALID["Deployment"])
    manifest["spec"]["template"]["spec"]["containers"][0]["env"].append({"name": "MODE", "value": "dev"})
    errors = validate(DEPLOYMENT.openapi_schema(), _without_nulls(manifest))
    assert errors == [("spec.template.spec.containers[0].env[1]", "duplicate entry")]


# --- install and bind ----------------------------------------------------------------------------------------


def test_install_produces_an_api_resource_schema_for_each_of_the_8_kinds() -> None:
    workloads, _ = export_plans()
    assert workloads.name == "kubernetes"
    assert [(s["spec"]["group"], s["spec"]["names"]["kind"]) for s in workloads.schemas] == EXPECTED_KINDS
    for schema, info in zip(workloads.schemas, WORKLOAD_RESOURCES, strict=True):
        assert schema["apiVersion"] == "apis.kcp.io/v1alpha1"
        assert schema["kind"] == "APIResourceSchema"
        assert schema["spec"] == generated_schema(WORKLOAD_KINDS[WORKLOAD_RESOURCES.index(info)]).spec
        prefix, rest = schema["metadata"]["name"].split(".", 1)
        assert rest == info.group_resource
        assert re.fullmatch(r"v[0-9a-f]{10}", prefix)
    body = export_body(workloads, {})
    assert [(r["group"], r["name"]) for r in body["spec"]["resources"]] == [
        (info.group, info.plural) for info in WORKLOAD_RESOURCES
    ]
    assert "permissionClaims" not in body["spec"]


def test_only_the_k8s_io_group_carries_the_api_approval_annotation_kcp_requires() -> None:
    annotated = {s["spec"]["names"]["kind"]: s["metadata"].get("annotations") for s in export_plans()[0].schemas}
    assert annotated.pop("Ingress") == {"api-approved.kubernetes.io": "https://github.com/kcp-dev/kubernetes/pull/4"}
    assert set(annotated.values()) == {None}


def test_schema_copies_are_independent() -> None:
    first = DEPLOYMENT.api_resource_schema()
    first["spec"]["versions"][0]["schema"]["properties"].clear()
    assert DEPLOYMENT.api_resource_schema()["spec"]["versions"][0]["schema"]["properties"]


def test_tmc_claims_each_workload_kind_by_identity_with_exactly_the_verbs_the_sync_engine_uses() -> None:
    _, tmc = export_plans()
    body = export_body(tmc, {"kubernetes": "abc123"})
    claims = {(c["group"], c["resource"]): c for c in body["spec"]["permissionClaims"]}
    for info in WORKLOAD_RESOURCES:
        claim = claims.pop((info.group, info.plural))
        assert (claim["verbs"], claim["identityHash"]) == (list(WORKLOAD_VERBS), "abc123")
    assert WORKLOAD_VERBS == ("get", "list", "watch", "update", "patch")
    assert {key: (c["verbs"], "identityHash" in c) for key, c in claims.items()} == {
        ("", "secrets"): (list(READ_VERBS), False),
        ("", "configmaps"): (list(READ_VERBS), False),
        ("", "serviceaccounts"): (list(READ_VERBS), False),
        ("", "namespaces"): (list(READ_VERBS), False),
        ("", "events"): (["create", "get", "patch"], False),
    }
    assert all(len(claim.reason) > 30 for claim in TMC_PERMISSION_CLAIMS)


def test_bind_accepts_every_claim_with_the_exports_own_verbs() -> None:
    _, tmc = export_plans()
    export = {"metadata": {"name": "tmc.kcp.io"}, **export_body(tmc, {"kubernetes": "abc123"})}
    binding = binding_body(export, "tmc")
    accepted = binding["spec"]["permissionClaims"]
    assert len(accepted) == len(TMC_PERMISSION_CLAIMS) == 5 + 8
    for claim, asked in zip(accepted, export["spec"]["permissionClaims"], strict=True):
        assert claim["state"] == "Accepted"
        assert claim["selector"] == {"matchAll": True}
        assert (claim["group"], claim["resource"], claim["verbs"]) == (
            asked["group"],
            asked["resource"],
            asked["verbs"],
        )
        assert claim.get("identityHash") == asked.get("identityHash")


# --- the converter, on hand-written OpenAPI ------------------------------------------------------------------


def _document(**schemas: dict[str, Any]) -> dict[str, Any]:
    return {"components": {"schemas": schemas}}


def _ref(name: str, **extra: Any) -> dict[str, Any]:
    return {"allOf": [{"$ref": f"#/components/schemas/{name}"}], **extra}


_GVK = {"x-kubernetes-group-version-kind": [{"group": "example.io", "version": "v1", "kind": "Widget"}]}
_META = {"type": "object", "properties": {"name": {"type": "string"}, "labels": {"type": "object"}}}


def _widget(spec: dict[str, Any], **more: Any) -> dict[str, Any]:
    return _document(
        Widget={
            "type": "object",
            "properties": {
                "metadata": _ref("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", default={}),
                "spec": _ref("Spec", default={}, description="The spec."),
            },
            **_GVK,
        },
        Spec=spec,
        **{"io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta": _META},
        **more,
    )


def test_refs_are_inlined_with_the_fields_description_and_root_metadata_is_plain() -> None:
    doc = _widget(
        {
            "type": "object",
            "description": "Spec type.",
            "properties": {"meta": _ref("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")},
        }
    )
    schema = structural_schema(doc, kind_schema_name(doc, "example.io", "v1", "Widget"))
    assert schema["properties"]["metadata"] == {"type": "object"}
    assert schema["properties"]["spec"]["description"] == "The spec."
    assert schema["properties"]["spec"]["properties"]["meta"] == _META  # nested metadata keeps its schema
    assert "x-kubernetes-group-version-kind" not in schema


def test_quantity_int_or_string_and_time_get_their_known_shapes() -> None:
    spec = {
        "type": "object",
        "properties": {
            "cpu": _ref("io.k8s.apimachinery.pkg.api.resource.Quantity"),
            "port": _ref("io.k8s.apimachinery.pkg.util.intstr.IntOrString"),
            "at": _ref("io.k8s.apimachinery.pkg.apis.meta.v1.Time"),
        },
    }
    doc = _widget(
        spec,
        **{
            "io.k8s.apimachinery.pkg.api.resource.Quantity": {"oneOf": [{"type": "string"}, {"type": "number"}]},
            "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {"format": "int-or-string", "oneOf": [{}]},
            "io.k8s.apimachinery.pkg.apis.meta.v1.Time": {"type": "string", "format": "date-time"},
        },
    )
    properties = structural_schema(doc, "Widget")["properties"]["spec"]["properties"]
    assert properties == {
        "cpu": {"x-kubernetes-preserve-unknown-fields": True},
        "port": {"x-kubernetes-int-or-string": True},
        "at": {"type": "string", "format": "date-time"},
    }


def test_zero_defaults_are_dropped_real_ones_kept_and_list_keys_required_or_defaulted() -> None:
    spec = {
        "type": "object",
        "properties": {
            "ports": {
                "type": "array",
                "items": _ref("Port", default={}),
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["port", "protocol"],
                "x-kubernetes-patch-merge-key": "port",
                "x-kubernetes-patch-strategy": "merge",
            },
            "refs": {
                "type": "array",
                "items": {"type": "object", "properties": {"name": {"type": "string", "default": ""}}},
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name"],
            },
            "hosts": {
                "type": "array",
                "items": {"type": "object", "properties": {"ip": {"type": "string"}}},
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["ip"],
            },
        },
    }
    port = {
        "type": "object",
        "required": ["port"],
        "properties": {
            "port": {"type": "integer", "default": 0},
            "protocol": {"type": "string", "default": "TCP"},
            "name": {"type": "string", "default": ""},
        },
    }
    conversion = Conversion()
    properties = structural_schema(_widget(spec, Port=port), "Widget", conversion)["properties"]["spec"]["properties"]
    ports = properties["ports"]
    assert "x-kubernetes-patch-merge-key" not in ports
    assert "x-kubernetes-patch-strategy" not in ports
    assert ports["items"]["properties"] == {
        "port": {"type": "integer"},
        "protocol": {"type": "string", "default": "TCP"},
        "name": {"type": "string"},
    }
    assert ports["items"]["required"] == ["port"]
    assert properties["refs"]["items"]["properties"]["name"] == {"type": "string", "default": ""}
    assert properties["hosts"]["items"]["required"] == ["ip"]
    assert "x-tmc-zero-default" not in json.dumps(properties)
    assert conversion.dropped["x-kubernetes-patch-strategy"] == 1
    assert any("'ip' made required" in item for item in conversion.adjustments)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        pytest.param({"type": "object", "properties": {"self": _ref("Spec")}}, "recursive", id="a recursive type"),
        pytest.param(
            {"type": "object", "properties": {"a": {"type": "string", "not": {}}}}, "unsupported", id="an unknown key"
        ),
        pytest.param({"type": "object", "properties": {"a": {"description": "?"}}}, "no type", id="an untyped field"),
        pytest.param({"type": "object", "properties": {"a": _ref("Missing")}}, "does not define", id="a dangling ref"),
        pytest.param(
            {
                "type": "object",
                "properties": {"a": {"allOf": [{"$ref": "#/components/schemas/A"}, {"type": "object"}]}},
            },
            "one $ref",
            id="a real allOf",
        ),
    ],
)
def test_the_converter_refuses_what_it_cannot_make_structural(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(StructuralSchemaError, match=re.escape(message)):
        structural_schema(_widget(spec, A={"type": "object"}), "Widget")


# --- discovery, subresources and columns ---------------------------------------------------------------------


def test_build_spec_takes_names_and_subresources_from_discovery() -> None:
    kind = WORKLOAD_KINDS[0]
    doc = _widget({"type": "object", "properties": {"replicas": {"type": "integer"}}})
    widget = doc["components"]["schemas"]["Widget"]
    widget["x-kubernetes-group-version-kind"] = [{"group": "apps", "version": "v1", "kind": "Deployment"}]
    widget["properties"]["status"] = {"type": "object", "properties": {"replicas": {"type": "integer"}}}
    server_columns = [{"name": "Name"}] + [{"name": name, "description": "d"} for name in _deployment_column_names()]
    api = ServerApi(
        git_version="v1.36.3",
        discovery={
            "apis/apps/v1": {
                "resources": [
                    {
                        "name": "deployments",
                        "kind": "Deployment",
                        "namespaced": True,
                        "singularName": "deployment",
                        "shortNames": ["deploy"],
                        "categories": ["all"],
                    },
                    {"name": "deployments/status", "kind": "Deployment"},
                    {"name": "deployments/scale", "kind": "Scale"},
                ]
            }
        },
        openapi={"apis/apps/v1": doc},
        columns={"Deployment": server_columns},
    )
    source, spec = build_spec(kind, api)
    assert source == {
        "generator": "hack/generate-workload-schemas",
        "kubeApiserver": "v1.36.3",
        "openapi": "/openapi/v3/apis/apps/v1",
        "schema": "Widget",
    }
    assert spec["names"] == {
        "kind": "Deployment",
        "listKind": "DeploymentList",
        "plural": "deployments",
        "singular": "deployment",
        "shortNames": ["deploy"],
        "categories": ["all"],
    }
    assert spec["scope"] == "Namespaced"
    (version,) = spec["versions"]
    assert version["subresources"] == {
        "status": {},
        "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"},
    }


def _deployment_column_names() -> list[str]:
    return ["Ready", "Up-to-date", "Available", "Age", "Containers", "Images", "Selector"]


def test_columns_follow_the_apiserver_and_computed_ones_are_left_out() -> None:
    server = [{"name": "Name"}] + [
        {"name": name, "description": f"server {name}", **({"priority": 1} if name == "Images" else {})}
        for name in ["Status", "Completions", "Duration", "Age", "Containers", "Images", "Selector"]
    ]
    columns = printer_columns("Job", server)
    assert [c["name"] for c in columns] == ["Status", "Completions", "Age", "Containers", "Images", "Selector"]
    images = next(c for c in columns if c["name"] == "Images")
    assert images["priority"] == 1
    assert "first one" in images["description"]
    selector = next(c for c in columns if c["name"] == "Selector")
    assert selector["description"] == "server Selector"


@pytest.mark.parametrize(
    ("names", "message"),
    [
        pytest.param([*_deployment_column_names(), "Paused"], "not mapped: ['Paused']", id="a new apiserver column"),
        pytest.param(
            _deployment_column_names()[1:], "no longer printed: ['Ready']", id="a column the apiserver dropped"
        ),
    ],
)
def test_a_column_change_in_the_apiserver_needs_a_decision(names: list[str], message: str) -> None:
    with pytest.raises(ColumnMappingError, match=re.escape(message)):
        printer_columns("Deployment", [{"name": name} for name in names])
