"""``ClusterRegistration``: a physical Kubernetes cluster that can run a tenant's workloads."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, Field

from tmc.api._base import (
    DNS_LABEL_MAX,
    DNS_LABEL_PATTERN,
    DNS_SUBDOMAIN_MAX,
    DNS_SUBDOMAIN_PATTERN,
    LABEL_VALUE_MAX,
    LABEL_VALUE_PATTERN,
    QUALIFIED_NAME_MAX,
    QUALIFIED_NAME_PATTERN,
    QUANTITY_PATTERN,
    ApiModel,
    Atomic,
    ListMap,
    ListSet,
)
from tmc.api.constants import LOCATION_LABEL
from tmc.api.meta import Condition, ObjectMeta

TaintEffect = Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]

CAPABILITY_TYPE_PATTERN = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$"
)
SECRET_KEY_PATTERN = r"^[-._a-zA-Z0-9]+$"


class Capability(ApiModel):
    """A capability the cluster's owner declares, e.g. `compute`, `storage` or `example.com/gpu`."""

    type: str = Field(
        description=(
            "Capability name: lowercase, optionally prefixed with a DNS domain (`example.com/fpga`)."
            " Not an enum: any name works, WorkloadPlacement `capabilityRequirements` match it literally."
        ),
        max_length=DNS_SUBDOMAIN_MAX,
        pattern=CAPABILITY_TYPE_PATTERN,
    )
    available: bool = Field(
        default=True,
        description="Whether the capability can be used now; `false` withdraws it without deleting it.",
    )


class KubeconfigSecretRef(ApiModel):
    """Where the kubeconfig TMC uses to reach the physical cluster is stored, in the same workspace."""

    namespace: str = Field(description="Namespace of the Secret.", max_length=DNS_LABEL_MAX, pattern=DNS_LABEL_PATTERN)
    name: str = Field(description="Name of the Secret.", max_length=DNS_SUBDOMAIN_MAX, pattern=DNS_SUBDOMAIN_PATTERN)
    key: str = Field(
        default="kubeconfig",
        description="Key in the Secret's `data` that holds the kubeconfig.",
        max_length=DNS_SUBDOMAIN_MAX,
        pattern=SECRET_KEY_PATTERN,
    )


class Taint(ApiModel):
    """Repels workloads whose WorkloadPlacement does not tolerate it, like a Kubernetes node taint."""

    key: str = Field(
        description="Taint key, e.g. `maintenance` or `example.com/dedicated`.",
        max_length=QUALIFIED_NAME_MAX,
        pattern=QUALIFIED_NAME_PATTERN,
    )
    value: str | None = Field(
        default=None,
        description="Optional taint value, matched by tolerations with operator `Equal`.",
        max_length=LABEL_VALUE_MAX,
        pattern=LABEL_VALUE_PATTERN,
    )
    effect: TaintEffect = Field(
        description=(
            "`NoSchedule`: no new placements on this cluster. `PreferNoSchedule`: avoid the cluster unless"
            " nothing else fits. `NoExecute`: also move already placed workloads away (after the"
            " toleration's `tolerationSeconds`, if any)."
        )
    )


class ClusterRegistrationSpec(ApiModel):
    """Desired state of a ClusterRegistration, written by the cluster's owner."""

    location: str = Field(
        min_length=1,
        max_length=DNS_LABEL_MAX,
        pattern=DNS_LABEL_PATTERN,
        description=(
            "Logical location of the cluster, e.g. `us-west-2`: a lowercase DNS label. It is also"
            f" selectable as the label `{LOCATION_LABEL}: <location>` and is the default spread topology."
            " It is not parsed: location `us-west-2` does not match a selector `region: us-west`;"
            " put such labels on the ClusterRegistration's `metadata.labels`."
        ),
    )
    capabilities: Annotated[list[Capability], Field(max_length=64), ListMap("type")] = Field(
        default_factory=list,
        description="Capabilities the owner declares for this cluster, unique by `type`.",
    )
    kubeconfig_secret_ref: KubeconfigSecretRef | None = Field(
        default=None,
        description=(
            "Secret in this workspace with the kubeconfig TMC uses to reach the physical cluster."
            " Optional: when absent, the TMC controllers must be given credentials for the cluster by"
            " other means."
        ),
    )
    taints: Annotated[list[Taint], Field(max_length=64), ListMap("key", "effect")] = Field(
        default_factory=list,
        description="Taints keep workloads off this cluster unless their placement tolerates them.",
    )
    unschedulable: bool = Field(
        default=False,
        description="Cordon: when `true` no new workloads are placed here; existing placements stay.",
    )


class EffectiveCapability(ApiModel):
    """A capability as TMC sees it after merging the declared and the discovered ones."""

    type: str = Field(description="Capability name, as in `spec.capabilities[].type`.", max_length=DNS_SUBDOMAIN_MAX)
    available: bool = Field(description="Whether placements requiring this capability may use the cluster now.")
    declared: bool = Field(default=False, description="Whether the capability is listed in `spec.capabilities`.")
    discovered: bool = Field(default=False, description="Whether TMC found evidence of it on the cluster.")
    reason: str | None = Field(
        default=None,
        description="Why the capability is (un)available, e.g. `DeclaredUnavailable`.",
        max_length=1024,
    )


class Allocatable(ApiModel):
    """Resources the cluster offers to workloads: the sum of its schedulable nodes' allocatable."""

    cpu: str | None = Field(
        default=None,
        description="Allocatable CPU as a Kubernetes quantity, e.g. `7500m`.",
        pattern=QUANTITY_PATTERN,
    )
    memory: str | None = Field(
        default=None,
        description="Allocatable memory as a Kubernetes quantity, e.g. `30Gi`.",
        pattern=QUANTITY_PATTERN,
    )


class OrphanedCopy(ApiModel):
    """An object TMC gave up deleting because the cluster stayed unreachable past the cleanup timeout."""

    namespace: str = Field(description="Namespace on the cluster.", max_length=63)
    api_version: str = Field(description="API group and version of the object.", max_length=253)
    kind: str = Field(description="Kind of the object, e.g. `Deployment`.", max_length=63)
    name: str = Field(description="Name of the object on the cluster.", max_length=253)
    origin: str = Field(description="`<namespace>/<name>` of the tenant's object it was copied from.", max_length=320)
    time: str = Field(description="When TMC gave up (RFC 3339).", max_length=64)


class ClusterRegistrationStatus(ApiModel):
    """Observed state of a ClusterRegistration, written by TMC."""

    conditions: Annotated[list[Condition], ListMap("type")] = Field(
        default_factory=list,
        description="Observations about the cluster; `Ready` is `True` while it is reachable and heartbeats.",
    )
    last_heartbeat_time: AwareDatetime | None = Field(
        default=None, strict=False, description="Last time TMC successfully contacted the cluster (RFC 3339)."
    )
    kubernetes_version: str | None = Field(
        default=None,
        description="Version reported by the cluster's API server, e.g. `v1.31.2`.",
        max_length=256,
    )
    api_resources: Annotated[list[str], ListSet()] = Field(
        default_factory=list,
        description=(
            "Resources the cluster serves, as `<plural>.<group>/<version>`"
            " (core group: `<plural>/<version>`), e.g. `deployments.apps/v1`."
        ),
    )
    capabilities: Annotated[list[EffectiveCapability], ListMap("type")] = Field(
        default_factory=list,
        description="Effective capabilities used for placement: declared ones merged with discovered ones.",
    )
    allocatable: Allocatable | None = Field(
        default=None, description="Allocatable resources; used by `replicaDivision.weighting: Capacity`."
    )
    node_count: int | None = Field(default=None, ge=0, description="Number of nodes in the cluster.")
    orphaned_copies: Annotated[list[OrphanedCopy], Field(max_length=100), Atomic()] = Field(
        default_factory=list,
        description=(
            "Copies left on the cluster when a deletion could not reach it within the cleanup timeout (latest"
            " 100): delete them by hand once the cluster is back, or re-register it."
        ),
    )


class ClusterRegistration(ApiModel):
    """A physical Kubernetes cluster that can run workloads of the workspace it is registered in.

    Cluster-scoped: the kcp workspace is the tenant boundary and a physical cluster does not
    live in a namespace (compare kcp's former SyncTarget and OCM's ManagedCluster). Placement
    selects clusters by `metadata.labels` plus the label `tmc.kcp.io/location`, which always
    equals `spec.location`.
    """

    api_version: Literal["tmc.kcp.io/v1alpha1"] = Field(
        default="tmc.kcp.io/v1alpha1", description="`tmc.kcp.io/v1alpha1`."
    )
    kind: Literal["ClusterRegistration"] = Field(default="ClusterRegistration", description="`ClusterRegistration`.")
    metadata: ObjectMeta = Field(
        default_factory=lambda: ObjectMeta(),
        description="Standard object metadata; `labels` are what placement `locationSelector`s match.",
    )
    spec: ClusterRegistrationSpec = Field(description="Desired state, written by the cluster's owner.")
    status: ClusterRegistrationStatus = Field(
        default_factory=lambda: ClusterRegistrationStatus(), description="Observed state, written by TMC."
    )

    def selection_labels(self) -> dict[str, str]:
        """Labels placement selectors match: ``metadata.labels`` plus ``tmc.kcp.io/location``.

        ``spec.location`` wins over a conflicting ``tmc.kcp.io/location`` label.
        """
        return {**self.metadata.labels, LOCATION_LABEL: self.spec.location}
