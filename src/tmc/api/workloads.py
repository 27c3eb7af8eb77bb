"""Workload kinds kcp does not serve itself, served by TMC's ``kubernetes`` APIExport in ``root:tmc``.

kcp serves ConfigMaps, Secrets and ServiceAccounts natively but no ``apps``, ``batch`` or
``networking.k8s.io`` group and no Services or PersistentVolumeClaims. TMC exports
:data:`WORKLOAD_KINDS` so tenants can create them in their workspaces, with the schemas a real
kube-apiserver publishes: ``hack/generate-workload-schemas`` (``python -m tmc.install.generate_workloads``)
starts a local kube-apiserver, reads its discovery, ``/openapi/v3`` and ``kubectl get`` columns, converts
them to structural schemas (:mod:`tmc.install.structural`) and writes one JSON file per kind into
``src/tmc/api/workloads/``. The files are committed, so installing TMC needs no apiserver; an e2e test
regenerates them and fails on any difference.

Each file holds ``source`` (apiserver version and OpenAPI schema name) and ``spec``: the complete
APIResourceSchema spec kcp receives. What kcp cannot validate with a schema (cross-field rules such as
"the selector must match the template's labels") is validated by the physical cluster when the sync
engine applies the object, and reported from there.

The pydantic models below are typed views of the Deployment fields TMC reads; they do not define a schema.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, ConfigDict, Field

from tmc.api._base import ApiModel, ListMap
from tmc.api.meta import ConditionStatus, LabelSelector, ObjectMeta

SCHEMA_DIR = "workloads"
"""Package-data folder of :mod:`tmc.api` holding the generated schemas."""


@dataclass(frozen=True, slots=True)
class WorkloadKind:
    """A Kubernetes kind TMC serves through the ``kubernetes`` export: what the generator asks the apiserver for."""

    group: str
    version: str
    kind: str
    plural: str

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_resource(self) -> str:
        return f"{self.plural}.{self.group or 'core'}"

    @property
    def file_name(self) -> str:
        return f"{self.group_resource}.json"


WORKLOAD_KINDS: tuple[WorkloadKind, ...] = (
    WorkloadKind("apps", "v1", "Deployment", "deployments"),
    WorkloadKind("apps", "v1", "StatefulSet", "statefulsets"),
    WorkloadKind("apps", "v1", "DaemonSet", "daemonsets"),
    WorkloadKind("batch", "v1", "Job", "jobs"),
    WorkloadKind("batch", "v1", "CronJob", "cronjobs"),
    WorkloadKind("", "v1", "Service", "services"),
    WorkloadKind("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims"),
    WorkloadKind("networking.k8s.io", "v1", "Ingress", "ingresses"),
)
"""The kinds tenants place, in the order they are exported and documented."""


@dataclass(frozen=True, slots=True)
class GeneratedSchema:
    """One committed file: where it was generated from and the APIResourceSchema spec."""

    source: dict[str, str]
    spec: dict[str, Any]


class GeneratedSchemaError(RuntimeError):
    """A committed schema file is missing or does not describe the kind it is named after."""


def read_schema_text(kind: WorkloadKind) -> str | None:
    """The committed file's text, or ``None`` when there is none."""
    path = resources.files("tmc.api").joinpath(SCHEMA_DIR, kind.file_name)
    if not path.is_file():
        return None
    return path.read_text(encoding="utf-8")


@cache
def generated_schema(kind: WorkloadKind) -> GeneratedSchema:
    """The committed schema of ``kind``; callers must not mutate it (copy it first)."""
    text = read_schema_text(kind)
    if text is None:
        raise GeneratedSchemaError(
            f"no generated schema src/tmc/api/{SCHEMA_DIR}/{kind.file_name} for {kind.kind}:"
            " run hack/generate-workload-schemas"
        )
    data = json.loads(text)
    spec = data["spec"]
    found = (spec.get("group"), spec.get("names", {}).get("kind"), spec.get("names", {}).get("plural"))
    if found != (kind.group, kind.kind, kind.plural) or [v.get("name") for v in spec.get("versions", [])] != [
        kind.version
    ]:
        raise GeneratedSchemaError(f"{kind.file_name} describes {found}, not {kind.api_version} {kind.kind}")
    return GeneratedSchema(source=dict(data["source"]), spec=spec)


def serialize(source: dict[str, str], spec: dict[str, Any]) -> str:
    """The committed file format: stable key order and indentation, so regeneration diffs cleanly."""
    return json.dumps({"source": source, "spec": spec}, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


class DeploymentSpec(ApiModel):
    """The parts of a Deployment's spec TMC reads; all other fields are kept."""

    model_config = ConfigDict(extra="allow")

    replicas: int = Field(
        default=1,
        ge=0,
        description="Desired number of pods in total; TMC divides them among the chosen clusters.",
    )
    selector: LabelSelector = Field(description="Selects the Deployment's pods; must match the template's labels.")
    template: dict[str, Any] = Field(description="Pod template, kept verbatim.")


class DeploymentCondition(ApiModel):
    """A Deployment condition as reported by the physical cluster(s)."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="Condition type, e.g. `Available` or `Progressing`.", max_length=316)
    status: ConditionStatus = Field(description="`True`, `False` or `Unknown`.")
    reason: str | None = Field(default=None, description="CamelCase reason for the last transition.")
    message: str | None = Field(default=None, description="Human-readable details.")
    last_update_time: AwareDatetime | None = Field(
        default=None, strict=False, description="Last time the condition was updated."
    )
    last_transition_time: AwareDatetime | None = Field(
        default=None, strict=False, description="Last time `status` changed."
    )


class DeploymentStatus(ApiModel):
    """Deployment status aggregated over the clusters the Deployment is placed on."""

    model_config = ConfigDict(extra="allow")

    observed_generation: int = Field(default=0, ge=0, description="Generation of the spec the status reflects.")
    replicas: int = Field(default=0, ge=0, description="Pods (of any version) across all clusters.")
    updated_replicas: int = Field(default=0, ge=0, description="Pods running the current template.")
    ready_replicas: int = Field(default=0, ge=0, description="Pods that are ready.")
    available_replicas: int = Field(default=0, ge=0, description="Pods ready for at least `minReadySeconds`.")
    conditions: Annotated[list[DeploymentCondition], ListMap("type")] = Field(
        default_factory=list, description="Aggregated Deployment conditions."
    )


class Deployment(ApiModel):
    """An `apps/v1` Deployment as served by kcp through TMC's `kubernetes` APIExport (typed view)."""

    api_version: Literal["apps/v1"] = Field(default="apps/v1", description="`apps/v1`.")
    kind: Literal["Deployment"] = Field(default="Deployment", description="`Deployment`.")
    metadata: ObjectMeta = Field(default_factory=lambda: ObjectMeta(), description="Standard object metadata.")
    spec: DeploymentSpec = Field(description="Desired state; only replicas, selector and template are typed.")
    status: DeploymentStatus = Field(
        default_factory=lambda: DeploymentStatus(), description="Observed state, aggregated by TMC."
    )
