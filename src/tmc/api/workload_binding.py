"""``WorkloadBinding``: where one placed workload runs, and (written by the sync engine) how each copy is doing.

One binding per placed workload, in the workload's own namespace, named after it (``<kind>-<name>``), like
Karmada's per-workload ResourceBinding. Chosen over OCM-style paged decision lists because a tenant asks "where
does ``web`` run?" about one workload: ``kubectl get workloadbindings deployment-web`` answers it, and every
object's size is bounded by the number of clusters it names, never by the number of workloads.

The placement controller writes ``spec`` (and creates the binding with the ``tmc.kcp.io/sync`` finalizer, so
copies can never outlive their record); the sync engine writes ``status`` and removes the finalizer once the
copies it applied are gone.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Literal

from pydantic import Field

from tmc.api._base import DNS_SUBDOMAIN_MAX, LABEL_VALUE_MAX, ApiModel, Atomic, ListMap
from tmc.api.meta import Condition, ObjectMeta
from tmc.api.workload_placement import ClusterAssignment, WorkloadReference

ClusterCopyHealth = Literal["Healthy", "Progressing", "Unhealthy", "Unknown"]
PurgeMode = Literal["Graceful", "Immediately", "Never"]


class AppliedObject(ApiModel):
    """One object the sync engine applied on a cluster (the workload's copy or one of its dependencies)."""

    api_version: str = Field(description="API group and version on the cluster.", max_length=DNS_SUBDOMAIN_MAX)
    kind: str = Field(description="Kind, e.g. `Deployment`.", max_length=63)
    name: str = Field(description="Name (in the cluster namespace of the binding's cluster).", max_length=253)
    uid: str | None = Field(default=None, description="UID of the copy on the cluster, for deletes.", max_length=64)


class ClusterCopyStatus(ApiModel):
    """The state of the workload's copy on one cluster."""

    name: str = Field(description="Name of the ClusterRegistration.", max_length=DNS_SUBDOMAIN_MAX)
    namespace: str | None = Field(
        default=None, description="The namespace on the cluster this tenant namespace maps to.", max_length=63
    )
    applied: bool = Field(default=False, description="Whether the current spec was applied on the cluster.")
    reason: str | None = Field(default=None, description="Why the copy is (not) applied, CamelCase.", max_length=128)
    message: str | None = Field(default=None, description="Details, quoting the cluster's answer.", max_length=1024)
    source_generation: int | None = Field(
        default=None, ge=0, description="`metadata.generation` of the tenant's workload that was applied."
    )
    desired_replicas: int | None = Field(
        default=None, ge=0, description="Replicas the binding assigns this cluster, as applied."
    )
    applied_hash: str | None = Field(
        default=None,
        description="Digest of everything applied there; unchanged input is not re-sent to the cluster.",
        max_length=64,
    )
    objects: Annotated[list[AppliedObject], Field(max_length=64), Atomic()] = Field(
        default_factory=list,
        description="Every object applied there for this workload: the cleanup deletes what is no longer wanted.",
    )
    health: ClusterCopyHealth = Field(default="Unknown", description="Health of the copy as the cluster reports it.")
    replicas: int | None = Field(default=None, ge=0, description="`status.replicas` of the copy.")
    ready_replicas: int | None = Field(default=None, ge=0, description="`status.readyReplicas` of the copy.")
    updated_replicas: int | None = Field(default=None, ge=0, description="`status.updatedReplicas` of the copy.")
    available_replicas: int | None = Field(default=None, ge=0, description="`status.availableReplicas` of the copy.")
    observed_generation: int | None = Field(
        default=None, ge=0, description="`status.observedGeneration` of the copy (its own generation)."
    )
    applied_generation: int | None = Field(
        default=None,
        ge=0,
        description="`metadata.generation` of the copy right after TMC applied it: a different one means drift.",
    )
    active: int | None = Field(default=None, ge=0, description="Jobs: `status.active` of the copy.")
    succeeded: int | None = Field(default=None, ge=0, description="Jobs: `status.succeeded` of the copy.")
    failed: int | None = Field(default=None, ge=0, description="Jobs: `status.failed` of the copy.")
    load_balancer_ingress: Annotated[list[str], Field(max_length=16), Atomic()] = Field(
        default_factory=list, description="Services: IPs or hostnames of the copy's load balancer."
    )
    last_seen_time: str | None = Field(
        default=None, description="When the copy's state as reported here was last observed (RFC 3339).", max_length=64
    )
    last_applied_time: str | None = Field(default=None, description="When the copy was last applied (RFC 3339).")


class WorkloadBindingSpec(ApiModel):
    """Which clusters run the workload and how many replicas each: the placement's decision."""

    workload: WorkloadReference = Field(description="The workload this binding places (same namespace).")
    placement: str = Field(description="Name of the WorkloadPlacement that decided.", max_length=DNS_SUBDOMAIN_MAX)
    clusters: Annotated[list[ClusterAssignment], ListMap("name"), Field(max_length=256)] = Field(
        default_factory=list, description="Chosen clusters with their replica counts; empty when none fit."
    )
    fallback_group: int | None = Field(
        default=None, ge=0, description="Index into the placement's `spec.fallbackGroups` that was used."
    )
    purge_mode: PurgeMode = Field(
        default="Graceful",
        description=(
            "When copies on a cluster the placement no longer chooses are removed: `Graceful` once every chosen"
            " cluster's copy is healthy (make before break), `Immediately`, or `Never` (left for the operator)."
        ),
    )


class WorkloadBindingStatus(ApiModel):
    """Observed state of the copies, written by the sync engine."""

    observed_generation: int | None = Field(default=None, ge=0, description="Binding generation last synced.")
    conditions: Annotated[list[Condition], ListMap("type")] = Field(
        default_factory=list, description="`Applied`: every chosen cluster has the current spec."
    )
    clusters: Annotated[list[ClusterCopyStatus], ListMap("name"), Field(max_length=256)] = Field(
        default_factory=list, description="One entry per cluster that has (or had, until cleaned up) a copy."
    )
    summary: str | None = Field(
        default=None,
        max_length=4096,
        description=(
            "One line for `kubectl get`: each chosen cluster as `name=ready/wanted` (`name` alone for kinds"
            " without replicas, `?` while unknown), in the order of `spec.clusters`."
        ),
    )


class WorkloadBinding(ApiModel):
    """Where one workload runs: the placement's decision for it, and its per-cluster copies."""

    api_version: Literal["tmc.kcp.io/v1alpha1"] = Field(
        default="tmc.kcp.io/v1alpha1", description="`tmc.kcp.io/v1alpha1`."
    )
    kind: Literal["WorkloadBinding"] = Field(default="WorkloadBinding", description="`WorkloadBinding`.")
    metadata: ObjectMeta = Field(default_factory=lambda: ObjectMeta(), description="Standard object metadata.")
    spec: WorkloadBindingSpec = Field(description="The decision, written by the placement controller.")
    status: WorkloadBindingStatus = Field(
        default_factory=lambda: WorkloadBindingStatus(), description="Copies' state, written by the sync engine."
    )


def binding_name(kind: str, name: str) -> str:
    """``<kind>-<name>`` in lowercase; past 253 characters, shortened with a hash so names never collide."""
    full = f"{kind.lower()}-{name}"
    if len(full) <= DNS_SUBDOMAIN_MAX:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:10]
    return f"{full[: DNS_SUBDOMAIN_MAX - 11]}-{digest}"


def placement_label(placement: str) -> str:
    """The value of label ``tmc.kcp.io/placement`` for a placement: its name, or past 63 characters (a label
    value's limit, while a name may have 253) the name shortened with a hash, so any valid name can place.

    >>> placement_label("web")
    'web'
    """
    if len(placement) <= LABEL_VALUE_MAX:
        return placement
    digest = hashlib.sha256(placement.encode()).hexdigest()[:10]
    return f"{placement[: LABEL_VALUE_MAX - 11]}-{digest}"


__all__ = [
    "AppliedObject",
    "ClusterCopyStatus",
    "WorkloadBinding",
    "WorkloadBindingSpec",
    "WorkloadBindingStatus",
    "binding_name",
    "placement_label",
]
