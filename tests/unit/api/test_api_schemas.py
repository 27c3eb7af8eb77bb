"""The rendered schemas: structural, content-named, with CEL rules, printer columns and names kcp accepts."""

from __future__ import annotations

import copy
import dataclasses
import re
from typing import Any

import pytest
from pydantic import Field

from tests.unit.api.openapi import structural_problems, validate, walk
from tmc.api import (
    ALL_RESOURCES,
    CLUSTER_REGISTRATION,
    DEPLOYMENT,
    EXPORT_NAME,
    GROUP,
    LOCATION_LABEL,
    TMC_RESOURCES,
    VERSION,
    WORKLOAD_PLACEMENT,
    WORKLOAD_RESOURCES,
    WORKLOADS_EXPORT_NAME,
    ApiModel,
    ClusterRegistration,
    ClusterRegistrationSpec,
    Deployment,
    ResourceInfo,
    SchemaError,
    get_resource,
    model_schema,
    registry,
    schema_prefix,
    to_api_resource_schema,
    to_crd,
)

RESOURCE_IDS = [info.kind for info in ALL_RESOURCES]
KCP_NAME_PREFIX = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def test_constants_and_registries() -> None:
    assert (GROUP, VERSION, EXPORT_NAME, WORKLOADS_EXPORT_NAME) == (
        "tmc.kcp.io",
        "v1alpha1",
        "tmc.kcp.io",
        "kubernetes",
    )
    assert LOCATION_LABEL == "tmc.kcp.io/location"
    assert [info.kind for info in TMC_RESOURCES] == ["ClusterRegistration", "WorkloadPlacement", "WorkloadBinding"]
    assert [info.kind for info in WORKLOAD_RESOURCES] == [
        "Deployment",
        "StatefulSet",
        "DaemonSet",
        "Job",
        "CronJob",
        "Service",
        "PersistentVolumeClaim",
        "Ingress",
    ]
    assert (registry.EXPORT_NAME, registry.WORKLOADS_EXPORT_NAME) == (EXPORT_NAME, WORKLOADS_EXPORT_NAME)
    assert [(i.group, i.version, i.plural, i.scope) for i in ALL_RESOURCES] == [
        ("tmc.kcp.io", "v1alpha1", "clusterregistrations", "Cluster"),
        ("tmc.kcp.io", "v1alpha1", "workloadplacements", "Namespaced"),
        ("tmc.kcp.io", "v1alpha1", "workloadbindings", "Namespaced"),
        ("apps", "v1", "deployments", "Namespaced"),
        ("apps", "v1", "statefulsets", "Namespaced"),
        ("apps", "v1", "daemonsets", "Namespaced"),
        ("batch", "v1", "jobs", "Namespaced"),
        ("batch", "v1", "cronjobs", "Namespaced"),
        ("", "v1", "services", "Namespaced"),
        ("", "v1", "persistentvolumeclaims", "Namespaced"),
        ("networking.k8s.io", "v1", "ingresses", "Namespaced"),
    ]
    with pytest.raises(KeyError, match="known kinds: ClusterRegistration"):
        get_resource("SyncTarget")


@pytest.mark.parametrize("info", ALL_RESOURCES, ids=RESOURCE_IDS)
def test_schema_is_structural(info: ResourceInfo) -> None:
    assert structural_problems(info.openapi_schema()) == []


def test_the_structural_checker_notices_problems() -> None:
    """Guards the guard: each broken schema below must be reported."""
    broken: list[dict[str, Any]] = [
        {"type": "object", "properties": {"a": {"description": "untyped"}}},
        {"type": "object", "properties": {"a": {"$ref": "#/$defs/A"}}},
        {"type": "object", "properties": {"a": {"anyOf": [{"type": "string"}, {"type": "null"}]}}},
        {"type": "object", "properties": {"a": {"type": "integer", "default": "x"}}},
        {
            "type": "array",
            "items": {"type": "object"},
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["k"],
        },
        {
            "type": "object",
            "properties": {"a": {"type": "string"}},
            "x-kubernetes-validations": [{"rule": "self.b == 1", "message": "m"}],
        },
        {"type": "object", "x-kubernetes-validations": [{"rule": "true"}]},
    ]
    for schema in broken:
        assert structural_problems(schema), schema


@pytest.mark.parametrize("info", TMC_RESOURCES, ids=[i.kind for i in TMC_RESOURCES])
def test_every_field_has_a_description(info: ResourceInfo) -> None:
    undocumented = [
        path
        for path, node in walk(info.openapi_schema())
        if path != ".metadata" and not path.endswith("[]") and not path.endswith(".*") and not node.get("description")
    ]
    assert undocumented == []


def test_unknown_fields_are_preserved_only_where_needed() -> None:
    def preserving(info: ResourceInfo) -> list[str]:
        return [path for path, node in walk(info.openapi_schema()) if node.get("x-kubernetes-preserve-unknown-fields")]

    assert preserving(CLUSTER_REGISTRATION) == []
    assert preserving(WORKLOAD_PLACEMENT) == []
    # The generated workload schemas: tests/unit/api/test_api_workload_schemas.py


@pytest.mark.parametrize("info", TMC_RESOURCES, ids=[i.kind for i in TMC_RESOURCES])
def test_api_resource_schema_has_the_shape_kcp_expects(info: ResourceInfo) -> None:
    ars = to_api_resource_schema(info.kind)

    assert ars["apiVersion"] == "apis.kcp.io/v1alpha1"
    assert ars["kind"] == "APIResourceSchema"
    spec = ars["spec"]
    assert spec["group"] == info.group
    assert spec["scope"] == info.scope
    assert spec["names"] == {
        "kind": info.kind,
        "listKind": f"{info.kind}List",
        "plural": info.plural,
        "singular": info.singular,
        "shortNames": list(info.short_names),
        "categories": list(info.categories),
    }
    (version,) = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == (info.version, True, True)
    assert version["schema"] == info.openapi_schema()  # the schema object itself, no openAPIV3Schema wrapper
    assert version["subresources"]["status"] == {}
    assert version["additionalPrinterColumns"][-1] == {
        "name": "Age",
        "type": "date",
        "jsonPath": ".metadata.creationTimestamp",
    }


@pytest.mark.parametrize("info", ALL_RESOURCES, ids=RESOURCE_IDS)
def test_api_resource_schema_is_named_prefix_plural_group(info: ResourceInfo) -> None:
    ars = info.api_resource_schema()
    name = ars["metadata"]["name"]

    prefix, rest = name.split(".", 1)
    assert rest == f"{info.plural}.{info.group or 'core'}"
    assert re.fullmatch(r"v[0-9a-f]{10}", prefix)
    assert KCP_NAME_PREFIX.match(prefix)
    assert prefix == schema_prefix(ars["spec"])
    assert name == info.api_resource_schema_name()


def test_the_prefix_is_stable_and_differs_between_kinds() -> None:
    names = [info.api_resource_schema()["metadata"]["name"] for info in ALL_RESOURCES]
    assert names == [info.api_resource_schema()["metadata"]["name"] for info in ALL_RESOURCES]
    assert len({name.split(".", 1)[0] for name in names}) == len(names)


def test_the_prefix_does_not_depend_on_key_order() -> None:
    spec = CLUSTER_REGISTRATION.api_resource_schema_spec()
    reordered = dict(reversed(list(spec.items())))
    assert schema_prefix(reordered) == schema_prefix(spec)


class _ChangedSpec(ClusterRegistrationSpec):
    region: str | None = Field(default=None, description="A field added in a newer TMC.")


class _ChangedRegistration(ClusterRegistration):
    spec: _ChangedSpec = Field(description="Desired state, written by the cluster's owner.")


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda info: dataclasses.replace(info, model=_ChangedRegistration), id="a new field"),
        pytest.param(lambda info: dataclasses.replace(info, printer_columns=info.printer_columns[:1]), id="a column"),
        pytest.param(lambda info: dataclasses.replace(info, short_names=("cr",)), id="a short name"),
    ],
)
def test_a_changed_schema_gets_a_new_name(change: Any) -> None:
    changed: ResourceInfo = change(CLUSTER_REGISTRATION)

    old, new = CLUSTER_REGISTRATION.api_resource_schema_name(), changed.api_resource_schema_name()

    assert old != new
    assert old.split(".", 1)[1] == new.split(".", 1)[1] == "clusterregistrations.tmc.kcp.io"


@pytest.mark.parametrize("info", TMC_RESOURCES, ids=[i.kind for i in TMC_RESOURCES])
def test_crd_has_the_shape_kubernetes_expects(info: ResourceInfo) -> None:
    crd = to_crd(info.kind)

    assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
    assert crd["kind"] == "CustomResourceDefinition"
    assert crd["metadata"]["name"] == f"{info.plural}.{GROUP}"
    assert crd["spec"]["scope"] == info.scope
    assert crd["spec"]["names"]["shortNames"] == list(info.short_names)
    assert crd["spec"]["names"]["categories"] == ["tmc"]
    (version,) = crd["spec"]["versions"]
    assert version["schema"] == {"openAPIV3Schema": info.openapi_schema()}
    assert version["subresources"] == {"status": {}}


def test_no_crd_for_a_builtin_kubernetes_kind() -> None:
    with pytest.raises(ValueError, match="built-in Kubernetes kind"):
        to_crd("Deployment")


def test_names_scopes_and_columns() -> None:
    assert (CLUSTER_REGISTRATION.scope, CLUSTER_REGISTRATION.short_names) == ("Cluster", ("creg",))
    assert (WORKLOAD_PLACEMENT.scope, WORKLOAD_PLACEMENT.short_names) == ("Namespaced", ("wp",))
    assert [(c.name, c.json_path) for c in CLUSTER_REGISTRATION.printer_columns] == [
        ("Location", ".spec.location"),
        ("Ready", '.status.conditions[?(@.type=="Ready")].status'),
        ("Version", ".status.kubernetesVersion"),
        ("Age", ".metadata.creationTimestamp"),
    ]
    assert [(c.name, c.json_path) for c in WORKLOAD_PLACEMENT.printer_columns] == [
        ("Strategy", ".spec.strategy"),
        ("Selected", ".status.selectedClusters"),
        ("Scheduled", '.status.conditions[?(@.type=="Scheduled")].status'),
        ("Age", ".metadata.creationTimestamp"),
    ]


def _resolve(schema: dict[str, Any], json_path: str) -> dict[str, Any]:
    """The schema node a printer-column / scale JSONPath points at (filters step into array items)."""
    node = schema
    for part in re.findall(r"\.([A-Za-z]+)(\[\?[^\]]*\])?", json_path):
        name, filtered = part
        node = node["properties"][name] if node.get("type") == "object" else node["items"]["properties"][name]
        if filtered:
            node = node["items"]
    return node


@pytest.mark.parametrize("info", TMC_RESOURCES, ids=[i.kind for i in TMC_RESOURCES])
def test_printer_columns_point_at_typed_fields(info: ResourceInfo) -> None:
    schema = info.openapi_schema()
    schema["properties"]["metadata"]["properties"] = {"creationTimestamp": {"type": "string"}}
    for column in info.printer_columns:
        target = _resolve(schema, column.json_path)
        expected = {"date": "string", "string": "string", "integer": "integer"}[column.type]
        assert target["type"] == expected, column


def _rules(info: ResourceInfo) -> list[tuple[str, dict[str, Any]]]:
    return [
        (path, rule) for path, node in walk(info.openapi_schema()) for rule in node.get("x-kubernetes-validations", ())
    ]


def test_cel_rules_exist_and_their_messages_name_the_field() -> None:
    rules = _rules(CLUSTER_REGISTRATION) + _rules(WORKLOAD_PLACEMENT)
    distinct = {rule["rule"] for _, rule in rules}
    assert len(distinct) >= 4

    for path, rule in rules:
        assert rule["message"], rule
        named = rule.get("fieldPath", path.rsplit(".", 1)[-1]).lstrip(".").rstrip("[]")
        assert named in rule["message"], (path, rule)


def test_lists_above_cel_rules_are_bounded() -> None:
    """The apiserver rejects unbounded estimated CEL cost: every list enclosing a rule needs maxItems."""
    for info in ALL_RESOURCES:
        nodes = dict(walk(info.openapi_schema()))
        for path, node in nodes.items():
            if not node.get("x-kubernetes-validations"):
                continue
            prefix = ""
            for part in re.split(r"(?=\.|\[\])", path)[1:]:
                prefix += part
                if part == "[]":
                    array = nodes[prefix[:-2]]
                    assert "maxItems" in array, f"{info.kind}: {prefix[:-2]} encloses a CEL rule at {path}"


def test_a_real_deployment_manifest_applies_and_keeps_its_fields() -> None:
    manifest: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "prod", "labels": {"app": "web"}},
        "spec": {
            "replicas": 5,
            "revisionHistoryLimit": 3,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [{"name": "nginx", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}],
                    "volumes": [{"name": "cache", "emptyDir": {}}],
                },
            },
        },
        "status": {"replicas": 5, "readyReplicas": 4, "collisionCount": 1},
    }

    assert validate(DEPLOYMENT.openapi_schema(), manifest) == []
    deployment = Deployment.model_validate(manifest)
    assert (deployment.spec.replicas, deployment.status.ready_replicas) == (5, 4)
    assert deployment.spec.selector.matches({"app": "web"})
    dumped = deployment.to_dict()
    assert dumped["spec"]["strategy"] == manifest["spec"]["strategy"]
    assert dumped["spec"]["revisionHistoryLimit"] == 3
    assert dumped["spec"]["template"] == manifest["spec"]["template"]
    assert dumped["status"]["collisionCount"] == 1


def test_a_deployment_without_selector_is_rejected() -> None:
    manifest = {"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"template": {}}}
    assert ("spec.selector", "required") in validate(DEPLOYMENT.openapi_schema(), manifest)


class _Union(ApiModel):
    value: int | str = Field(description="Not expressible structurally.")


def test_the_renderer_refuses_non_structural_models() -> None:
    with pytest.raises(SchemaError, match="value: a union of 2 types"):
        model_schema(_Union)


def test_rendering_returns_independent_copies() -> None:
    schema = WORKLOAD_PLACEMENT.openapi_schema()
    original = copy.deepcopy(schema)
    schema["properties"]["spec"]["properties"].clear()
    assert WORKLOAD_PLACEMENT.openapi_schema() == original
