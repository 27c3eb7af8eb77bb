"""Workload kinds kcp does not serve itself, typed only as far as TMC reads them.

kcp serves no ``apps/v1`` group; TMC exports a Deployment schema (APIExport ``kubernetes``) so
tenants can create Deployments in their workspaces.  Every field TMC does not read is kept as is
(``x-kubernetes-preserve-unknown-fields``), so real Deployment manifests apply unchanged and are
validated for real by the physical cluster they are synced to.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, ConfigDict, Field

from tmc.api._base import ApiModel, ListMap
from tmc.api.meta import ConditionStatus, LabelSelector, ObjectMeta


class DeploymentSpec(ApiModel):
    """The parts of a Deployment's spec TMC reads; all other fields are preserved."""

    model_config = ConfigDict(extra="allow")

    replicas: int = Field(
        default=1,
        ge=0,
        description="Desired number of pods in total; TMC divides them among the chosen clusters.",
    )
    selector: LabelSelector = Field(description="Selects the Deployment's pods; must match the template's labels.")
    template: dict[str, Any] = Field(description="Pod template, kept verbatim and validated by the physical cluster.")


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
    selector: str | None = Field(
        default=None,
        description=(
            "`spec.selector` serialized as a string, for the scale subresource (`labelSelectorPath`);"
            " a TMC addition, Kubernetes' own Deployment status has no such field."
        ),
    )


class Deployment(ApiModel):
    """An `apps/v1` Deployment as served by kcp through TMC's `kubernetes` APIExport."""

    api_version: Literal["apps/v1"] = Field(default="apps/v1", description="`apps/v1`.")
    kind: Literal["Deployment"] = Field(default="Deployment", description="`Deployment`.")
    metadata: ObjectMeta = Field(default_factory=lambda: ObjectMeta(), description="Standard object metadata.")
    spec: DeploymentSpec = Field(description="Desired state; only replicas, selector and template are typed.")
    status: DeploymentStatus = Field(
        default_factory=lambda: DeploymentStatus(), description="Observed state, aggregated by TMC."
    )
