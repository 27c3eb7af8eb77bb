"""Registry of the resources TMC defines or serves, and their CRD / APIResourceSchema renderings.

``TMC_RESOURCES`` are the kinds of the ``tmc.kcp.io`` APIExport, rendered from pydantic models;
``WORKLOAD_RESOURCES`` the workload kinds kcp does not serve itself, exported as ``kubernetes``, whose
APIResourceSchema specs are generated from a real kube-apiserver and committed (:mod:`tmc.api.workloads`).
Both exports live in ``root:tmc``.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

from tmc.api._base import ApiModel
from tmc.api.cluster_registration import ClusterRegistration
from tmc.api.constants import CATEGORY, CONDITION_APPLIED, CONDITION_READY, CONDITION_SCHEDULED, GROUP, VERSION
from tmc.api.constants import EXPORT_NAME as EXPORT_NAME
from tmc.api.constants import WORKLOADS_EXPORT_NAME as WORKLOADS_EXPORT_NAME
from tmc.api.schema import object_schema
from tmc.api.workload_binding import WorkloadBinding
from tmc.api.workload_placement import WorkloadPlacement
from tmc.api.workloads import WORKLOAD_KINDS, WorkloadKind, generated_schema

Scope = Literal["Cluster", "Namespaced"]


@dataclass(frozen=True)
class PrinterColumn:
    """One ``additionalPrinterColumns`` entry (a ``kubectl get`` column)."""

    name: str
    type: Literal["string", "integer", "number", "boolean", "date"]
    json_path: str
    description: str = ""
    priority: int = 0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type, "jsonPath": self.json_path}
        if self.description:
            out["description"] = self.description
        if self.priority:
            out["priority"] = self.priority
        return out


@dataclass(frozen=True)
class ScaleSubresource:
    """The ``scale`` subresource: where replicas and the serialized selector live."""

    spec_replicas_path: str
    status_replicas_path: str
    label_selector_path: str | None = None

    def to_dict(self) -> dict[str, str]:
        out = {"specReplicasPath": self.spec_replicas_path, "statusReplicasPath": self.status_replicas_path}
        if self.label_selector_path is not None:
            out["labelSelectorPath"] = self.label_selector_path
        return out


AGE_COLUMN = PrinterColumn("Age", "date", ".metadata.creationTimestamp")


@dataclass(frozen=True)
class ResourceInfo:
    """One resource: its names, scope, model and how to render it for Kubernetes and kcp."""

    group: str
    version: str
    kind: str
    plural: str
    singular: str
    scope: Scope
    model: type[ApiModel] | None = field(default=None, repr=False)
    """The pydantic model the schema is rendered from; ``None`` for generated workload kinds."""
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    printer_columns: tuple[PrinterColumn, ...] = ()
    scale: ScaleSubresource | None = None
    crd_allowed: bool = True
    """Whether a CRD may define it (false for built-in Kubernetes groups such as ``apps``)."""
    generated: WorkloadKind | None = None
    """Set for workload kinds: the APIResourceSchema spec is the committed, generated one."""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def namespaced(self) -> bool:
        return self.scope == "Namespaced"

    @property
    def group_resource(self) -> str:
        """``<plural>.<group>``: the CRD name and the suffix of the APIResourceSchema name."""
        return f"{self.plural}.{self.group or 'core'}"

    def openapi_schema(self) -> dict[str, Any]:
        """The structural ``openAPIV3Schema`` of the kind."""
        if self.generated is not None:
            schema: dict[str, Any] = _generated_spec(self.generated)["versions"][0]["schema"]
            return schema
        if self.model is None:
            raise ValueError(f"{self.kind} has neither a model nor a generated schema")
        return copy.deepcopy(_object_schema(self.model))

    def names(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "listKind": self.list_kind,
            "plural": self.plural,
            "singular": self.singular,
        }
        if self.short_names:
            out["shortNames"] = list(self.short_names)
        if self.categories:
            out["categories"] = list(self.categories)
        return out

    def subresources(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": {}}
        if self.scale is not None:
            out["scale"] = self.scale.to_dict()
        return out

    def _version(self) -> dict[str, Any]:
        return {
            "name": self.version,
            "served": True,
            "storage": True,
            "subresources": self.subresources(),
            "additionalPrinterColumns": [column.to_dict() for column in self.printer_columns],
        }

    def crd(self) -> dict[str, Any]:
        """An ``apiextensions.k8s.io/v1`` CustomResourceDefinition."""
        if not self.crd_allowed:
            raise ValueError(
                f"{self.kind}.{self.group} is a built-in Kubernetes kind: physical clusters serve it and"
                " a CRD cannot define it (use to_api_resource_schema for kcp)"
            )
        version = {**self._version(), "schema": {"openAPIV3Schema": self.openapi_schema()}}
        return {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": self.group_resource},
            "spec": {"group": self.group, "names": self.names(), "scope": self.scope, "versions": [version]},
        }

    def api_resource_schema_spec(self) -> dict[str, Any]:
        """The ``spec`` of the kcp APIResourceSchema (its hash names the object)."""
        if self.generated is not None:
            return _generated_spec(self.generated)
        version = {**self._version(), "schema": self.openapi_schema()}
        return {"group": self.group, "names": self.names(), "scope": self.scope, "versions": [version]}

    def api_resource_schema_name(self) -> str:
        """``<prefix>.<plural>.<group>``; the prefix changes whenever the schema spec changes."""
        if self.generated is not None:
            return f"{_generated_prefix(self.generated)}.{self.group_resource}"
        return f"{schema_prefix(self.api_resource_schema_spec())}.{self.group_resource}"

    def api_resource_schema(self) -> dict[str, Any]:
        """A kcp ``apis.kcp.io/v1alpha1`` APIResourceSchema; immutable in kcp, hence content-named."""
        metadata: dict[str, Any] = {"name": self.api_resource_schema_name()}
        if _protected_group(self.group):
            metadata["annotations"] = {API_APPROVED_ANNOTATION: API_APPROVED_VALUE}
        return {
            "apiVersion": "apis.kcp.io/v1alpha1",
            "kind": "APIResourceSchema",
            "metadata": metadata,
            "spec": self.api_resource_schema_spec(),
        }


@cache
def _object_schema(model: type[ApiModel]) -> dict[str, Any]:
    return object_schema(model)


API_APPROVED_ANNOTATION = "api-approved.kubernetes.io"
API_APPROVED_VALUE = "https://github.com/kcp-dev/kubernetes/pull/4"
"""kcp, like Kubernetes, refuses schemas in ``*.k8s.io`` groups without this annotation; the value is the
one kcp's crd-puller sets on the upstream kinds it imports (Ingress, ``networking.k8s.io``)."""


def _protected_group(group: str) -> bool:
    return group in ("k8s.io", "kubernetes.io") or group.endswith((".k8s.io", ".kubernetes.io"))


@cache
def _generated_spec_json(kind: WorkloadKind) -> str:
    return canonical_json(generated_schema(kind).spec)


def _generated_spec(kind: WorkloadKind) -> dict[str, Any]:
    """A fresh copy (parsing the cached canonical text is several times faster than deep-copying)."""
    spec: dict[str, Any] = json.loads(_generated_spec_json(kind))
    return spec


@cache
def _generated_prefix(kind: WorkloadKind) -> str:
    return "v" + hashlib.sha256(_generated_spec_json(kind).encode()).hexdigest()[:10]


def workload_resource(kind: WorkloadKind) -> ResourceInfo:
    """The :class:`ResourceInfo` of a workload kind, read from its committed generated spec."""
    spec = generated_schema(kind).spec
    names = spec["names"]
    (version,) = spec["versions"]
    scale = version.get("subresources", {}).get("scale")
    return ResourceInfo(
        group=kind.group,
        version=kind.version,
        kind=kind.kind,
        plural=kind.plural,
        singular=names["singular"],
        scope=spec["scope"],
        short_names=tuple(names.get("shortNames", ())),
        categories=tuple(names.get("categories", ())),
        printer_columns=tuple(
            PrinterColumn(c["name"], c["type"], c["jsonPath"], c.get("description", ""), c.get("priority", 0))
            for c in version.get("additionalPrinterColumns", ())
        ),
        scale=(
            ScaleSubresource(scale["specReplicasPath"], scale["statusReplicasPath"], scale.get("labelSelectorPath"))
            if scale is not None
            else None
        ),
        crd_allowed=False,
        generated=kind,
    )


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace: equal data, equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def schema_prefix(spec: dict[str, Any]) -> str:
    """``v`` plus the first 10 hex digits of the SHA-256 of the canonical JSON of ``spec``."""
    return "v" + hashlib.sha256(canonical_json(spec).encode()).hexdigest()[:10]


CLUSTER_REGISTRATION = ResourceInfo(
    group=GROUP,
    version=VERSION,
    kind="ClusterRegistration",
    plural="clusterregistrations",
    singular="clusterregistration",
    scope="Cluster",
    model=ClusterRegistration,
    short_names=("creg",),
    categories=(CATEGORY,),
    printer_columns=(
        PrinterColumn("Location", "string", ".spec.location", "Logical location of the cluster."),
        PrinterColumn(
            "Ready",
            "string",
            f'.status.conditions[?(@.type=="{CONDITION_READY}")].status',
            "Whether the cluster is reachable and heartbeating.",
        ),
        PrinterColumn("Version", "string", ".status.kubernetesVersion", "Kubernetes version of the cluster."),
        AGE_COLUMN,
    ),
)

WORKLOAD_PLACEMENT = ResourceInfo(
    group=GROUP,
    version=VERSION,
    kind="WorkloadPlacement",
    plural="workloadplacements",
    singular="workloadplacement",
    scope="Namespaced",
    model=WorkloadPlacement,
    short_names=("wp",),
    categories=(CATEGORY,),
    printer_columns=(
        PrinterColumn("Strategy", "string", ".spec.strategy", "Placement strategy."),
        PrinterColumn("Selected", "string", ".status.selectedClusters", "Clusters chosen for the workloads."),
        PrinterColumn(
            "Scheduled",
            "string",
            f'.status.conditions[?(@.type=="{CONDITION_SCHEDULED}")].status',
            "Whether every selected workload has enough clusters.",
        ),
        AGE_COLUMN,
    ),
)

WORKLOAD_BINDING = ResourceInfo(
    group=GROUP,
    version=VERSION,
    kind="WorkloadBinding",
    plural="workloadbindings",
    singular="workloadbinding",
    scope="Namespaced",
    model=WorkloadBinding,
    short_names=("wb",),
    categories=(CATEGORY,),
    printer_columns=(
        PrinterColumn("Kind", "string", ".spec.workload.kind", "Kind of the placed workload."),
        PrinterColumn("Workload", "string", ".spec.workload.name", "Name of the placed workload."),
        # A column shows only the first match of a JSONPath, so the per-cluster view is one summary string.
        PrinterColumn("Clusters", "string", ".status.summary", "Chosen clusters as name=ready/wanted."),
        PrinterColumn(
            "Applied",
            "string",
            f'.status.conditions[?(@.type=="{CONDITION_APPLIED}")].status',
            "Whether every chosen cluster has the current spec.",
        ),
        AGE_COLUMN,
    ),
)

WORKLOAD_RESOURCES: tuple[ResourceInfo, ...] = tuple(workload_resource(kind) for kind in WORKLOAD_KINDS)
"""Workload kinds kcp does not serve itself, exported as ``kubernetes`` from ``root:tmc``."""

DEPLOYMENT = next(info for info in WORKLOAD_RESOURCES if info.kind == "Deployment")

TMC_RESOURCES: tuple[ResourceInfo, ...] = (CLUSTER_REGISTRATION, WORKLOAD_PLACEMENT, WORKLOAD_BINDING)
"""The kinds of the ``tmc.kcp.io`` APIExport."""

ALL_RESOURCES: tuple[ResourceInfo, ...] = TMC_RESOURCES + WORKLOAD_RESOURCES


def get_resource(kind: str) -> ResourceInfo:
    """The registered resource of ``kind`` (e.g. ``"WorkloadPlacement"``)."""
    for info in ALL_RESOURCES:
        if info.kind == kind:
            return info
    known = ", ".join(info.kind for info in ALL_RESOURCES)
    raise KeyError(f"unknown kind {kind!r}; known kinds: {known}")


def to_crd(kind: str) -> dict[str, Any]:
    """The ``apiextensions.k8s.io/v1`` CRD of a TMC kind."""
    return get_resource(kind).crd()


def to_api_resource_schema(kind: str) -> dict[str, Any]:
    """The kcp ``APIResourceSchema`` of a TMC or workload kind, named ``v<hash>.<plural>.<group>``."""
    return get_resource(kind).api_resource_schema()
