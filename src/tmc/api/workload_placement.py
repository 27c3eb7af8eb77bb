"""``WorkloadPlacement``: which physical clusters the workloads of a namespace run on."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from tmc.api._base import (
    DNS_LABEL_MAX,
    DNS_SUBDOMAIN_MAX,
    DNS_SUBDOMAIN_PATTERN,
    LABEL_VALUE_MAX,
    LABEL_VALUE_PATTERN,
    QUALIFIED_NAME_MAX,
    QUALIFIED_NAME_PATTERN,
    ApiModel,
    Atomic,
    CelRule,
    ListMap,
)
from tmc.api.cluster_registration import CAPABILITY_TYPE_PATTERN, TaintEffect
from tmc.api.constants import LOCATION_LABEL
from tmc.api.meta import Condition, LabelSelector, ObjectMeta

Strategy = Literal["RoundRobin", "Affinity", "Spread"]
DivisionMode = Literal["Duplicated", "Divided"]
Weighting = Literal["Even", "Static", "Capacity"]
TolerationOperator = Literal["Equal", "Exists"]

API_VERSION_PATTERN = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"  # optional group
    r"v[1-9][0-9]*((alpha|beta)[1-9][0-9]*)?$"
)
KIND_PATTERN = r"^[A-Z][A-Za-z0-9]*$"
SELECTED_CLUSTERS_MAX = 256


class WorkloadResourceRef(ApiModel):
    """A kind of workload (and optionally one object of it) in the placement's namespace."""

    api_version: str = Field(
        description="API group and version of the workload, e.g. `apps/v1`.",
        max_length=DNS_SUBDOMAIN_MAX,
        pattern=API_VERSION_PATTERN,
    )
    kind: str = Field(description="Kind of the workload, e.g. `Deployment`.", max_length=63, pattern=KIND_PATTERN)
    name: str | None = Field(
        default=None,
        description="Name of one workload; when absent, every object of this kind is selected.",
        max_length=DNS_SUBDOMAIN_MAX,
        pattern=DNS_SUBDOMAIN_PATTERN,
    )


def _default_workload_resources() -> list[WorkloadResourceRef]:
    return [WorkloadResourceRef(api_version="apps/v1", kind="Deployment")]


class WorkloadSelector(ApiModel):
    """Selects the workloads, in the placement's own namespace, that the placement decides for."""

    resources: Annotated[list[WorkloadResourceRef], Field(min_length=1, max_length=32), Atomic()] = Field(
        default_factory=_default_workload_resources,
        description=(
            "Workload kinds (or single objects) selected; a workload matching any entry is selected."
            " Defaults to all `apps/v1` Deployments. TMC can place the kinds of its `kubernetes` APIExport:"
            " Deployments, StatefulSets, DaemonSets, Jobs, CronJobs, Services, PersistentVolumeClaims, Ingresses."
        ),
        json_schema_extra={"default": [{"apiVersion": "apps/v1", "kind": "Deployment"}]},
    )
    label_selector: LabelSelector | None = Field(
        default=None,
        description="Only workloads whose labels match are selected; absent selects all of `resources`.",
    )


class CapabilityRequirement(ApiModel):
    """A capability clusters must (or should) offer."""

    type: str = Field(
        description="Capability name, matched literally against the clusters' `status.capabilities[].type`.",
        max_length=DNS_SUBDOMAIN_MAX,
        pattern=CAPABILITY_TYPE_PATTERN,
    )
    required: bool = Field(
        default=True,
        description=(
            "`true`: clusters without the capability available are not eligible."
            " `false`: such clusters stay eligible but clusters offering it are preferred."
        ),
    )


class NumberOfClusters(ApiModel):
    """How many clusters each selected workload is placed on."""

    __cel_rules__ = (
        CelRule(
            rule="!has(self.max) || self.max >= (has(self.min) ? self.min : 1)",
            message="numberOfClusters.max must be greater than or equal to numberOfClusters.min",
            field_path=".max",
            check=lambda s: s.max is None or s.max >= s.min,
        ),
    )

    min: int = Field(
        default=1,
        ge=1,
        description=(
            "Fewest clusters per workload. With fewer eligible clusters (after trying `fallbackGroups`)"
            " the workload is not placed and `Scheduled` is `False`."
        ),
    )
    max: int | None = Field(
        default=None,
        ge=1,
        description=(
            "Most clusters per workload, used by `Spread` to reach more topology domains; absent means"
            " exactly `min` clusters."
        ),
    )


class StaticWeight(ApiModel):
    """The relative share of replicas for the selected cluster(s) it matches."""

    __cel_rules__ = (
        CelRule(
            rule="has(self.clusterName) != has(self.clusterSelector)",
            message="replicaDivision.staticWeights[] must set exactly one of clusterName or clusterSelector",
            check=lambda s: (s.cluster_name is None) != (s.cluster_selector is None),
        ),
    )

    cluster_name: str | None = Field(
        default=None,
        description="Name of a ClusterRegistration; set this or `clusterSelector`.",
        max_length=DNS_SUBDOMAIN_MAX,
        pattern=DNS_SUBDOMAIN_PATTERN,
    )
    cluster_selector: LabelSelector | None = Field(
        default=None,
        description="Selects ClusterRegistrations by their selection labels; set this or `clusterName`.",
    )
    weight: int = Field(
        ge=1,
        le=1000,
        description=(
            "Relative weight (1-1000). A selected cluster gets `replicas * weight / sum(weights)`;"
            " selected clusters matched by no entry get weight 0; the first matching entry counts."
        ),
    )


class ReplicaDivision(ApiModel):
    """How a workload's replicas are shared among the clusters it is placed on."""

    __cel_rules__ = (
        CelRule(
            rule=(
                "!has(self.staticWeights) || size(self.staticWeights) == 0"
                " || (has(self.weighting) && self.weighting == 'Static')"
            ),
            message="replicaDivision.staticWeights may only be set when replicaDivision.weighting is Static",
            field_path=".staticWeights",
            check=lambda s: not s.static_weights or s.weighting == "Static",
        ),
        CelRule(
            rule=(
                "!has(self.weighting) || self.weighting != 'Static'"
                " || (has(self.staticWeights) && size(self.staticWeights) > 0)"
            ),
            message="replicaDivision.staticWeights must not be empty when weighting is Static",
            field_path=".staticWeights",
            check=lambda s: s.weighting != "Static" or bool(s.static_weights),
        ),
        CelRule(
            rule=(
                "(has(self.mode) ? self.mode : 'Divided') == 'Divided'"
                " || (has(self.weighting) ? self.weighting : 'Even') == 'Even'"
            ),
            message=(
                "replicaDivision.weighting must be Even when replicaDivision.mode is Duplicated"
                " (every cluster runs all replicas)"
            ),
            field_path=".weighting",
            check=lambda s: s.mode == "Divided" or s.weighting == "Even",
        ),
    )

    mode: DivisionMode = Field(
        default="Divided",
        description=(
            "`Divided`: the workload's replicas are split among its clusters (they add up to"
            " `spec.replicas`). `Duplicated`: every cluster runs the full `spec.replicas`."
        ),
    )
    weighting: Weighting = Field(
        default="Even",
        description=(
            "How `Divided` replicas are split: `Even` equally (remainder to the first clusters by name),"
            " `Static` by `staticWeights`, `Capacity` proportionally to the clusters' `status.allocatable`."
        ),
    )
    static_weights: Annotated[list[StaticWeight], Field(max_length=64), Atomic()] = Field(
        default_factory=list,
        description="Weights per cluster; required for, and only allowed with, `Static`.",
    )


class PreferredAffinityTerm(ApiModel):
    """A weighted preference for clusters matching a selector."""

    weight: int = Field(
        ge=1,
        le=100,
        description="Score (1-100) added to every cluster the selector matches; highest total wins.",
    )
    selector: LabelSelector = Field(description="Matches ClusterRegistrations by their selection labels.")


class Affinity(ApiModel):
    """Rules ranking eligible clusters for strategy `Affinity`; all selectors see cluster selection labels."""

    required: Annotated[list[LabelSelector], Field(max_length=8), Atomic()] = Field(
        default_factory=list,
        description="Hard requirement: only clusters matching one of these selectors (ORed) are eligible.",
    )
    preferred: Annotated[list[PreferredAffinityTerm], Field(max_length=16), Atomic()] = Field(
        default_factory=list, description="Soft preferences: matching clusters score the term's weight."
    )
    workload_affinity: LabelSelector | None = Field(
        default=None,
        description=("Prefer clusters already running a workload of this namespace whose labels match (co-location)."),
    )
    workload_anti_affinity: LabelSelector | None = Field(
        default=None,
        description="Avoid clusters already running a workload of this namespace whose labels match.",
    )


class Spread(ApiModel):
    """Parameters of strategy `Spread`."""

    topology_key: str = Field(
        default=LOCATION_LABEL,
        description=(
            "Cluster label whose values are the topology domains to spread over; clusters without the"
            f" label are not eligible. Defaults to `{LOCATION_LABEL}`, i.e. one domain per location."
        ),
        max_length=QUALIFIED_NAME_MAX,
        pattern=QUALIFIED_NAME_PATTERN,
    )
    max_skew: int = Field(
        default=1,
        ge=1,
        description="Largest allowed difference between the numbers of chosen clusters in any two domains.",
    )


class FallbackGroup(ApiModel):
    """An alternative set of clusters used when the primary selection has too few eligible clusters."""

    location_selector: LabelSelector = Field(description="Replaces `spec.locationSelector` when this group is tried.")


class Toleration(ApiModel):
    """Allows placement on clusters with a matching taint, like a Kubernetes pod toleration."""

    __cel_rules__ = (
        CelRule(
            rule=(
                "(has(self.operator) ? self.operator : 'Equal') != 'Exists'"
                " || !has(self.value) || size(self.value) == 0"
            ),
            message="tolerations[].value must be empty when tolerations[].operator is Exists",
            field_path=".value",
            check=lambda s: s.operator != "Exists" or not s.value,
        ),
        CelRule(
            rule=(
                "(has(self.key) && size(self.key) > 0) || (has(self.operator) ? self.operator : 'Equal') == 'Exists'"
            ),
            message="tolerations[].operator must be Exists when tolerations[].key is empty",
            field_path=".operator",
            check=lambda s: bool(s.key) or s.operator == "Exists",
        ),
        CelRule(
            rule="!has(self.tolerationSeconds) || (has(self.effect) && self.effect == 'NoExecute')",
            message="tolerations[].tolerationSeconds may only be set when tolerations[].effect is NoExecute",
            field_path=".tolerationSeconds",
            check=lambda s: s.toleration_seconds is None or s.effect == "NoExecute",
        ),
    )

    key: str | None = Field(
        default=None,
        description="Taint key to tolerate; empty (with operator `Exists`) tolerates every taint.",
        max_length=QUALIFIED_NAME_MAX,
        pattern=QUALIFIED_NAME_PATTERN,
    )
    operator: TolerationOperator = Field(
        default="Equal",
        description="`Equal`: key and value must match. `Exists`: any value of the key matches.",
    )
    value: str | None = Field(
        default=None,
        description="Taint value to match with operator `Equal`.",
        max_length=LABEL_VALUE_MAX,
        pattern=LABEL_VALUE_PATTERN,
    )
    effect: TaintEffect | None = Field(
        default=None, description="Taint effect to tolerate; absent tolerates all effects."
    )
    toleration_seconds: int | None = Field(
        default=None,
        ge=0,
        description="For `NoExecute`: how long workloads stay on a newly tainted cluster; absent: forever.",
    )


class WorkloadPlacementSpec(ApiModel):
    """Desired placement of the selected workloads.

    A cluster is eligible for a workload when it matches `locationSelector` (on its selection
    labels: `metadata.labels` plus `tmc.kcp.io/location`), is `Ready` and not `unschedulable`,
    offers every required capability, and every `NoSchedule`/`NoExecute` taint is tolerated.
    The strategy then picks `numberOfClusters` of the eligible clusters.
    """

    __cel_rules__ = (
        CelRule(
            rule="!has(self.spread) || self.strategy == 'Spread'",
            message="spec.spread may only be set when spec.strategy is Spread",
            field_path=".spread",
            check=lambda s: s.spread is None or s.strategy == "Spread",
        ),
        CelRule(
            rule="!has(self.affinity) || self.strategy == 'Affinity'",
            message="spec.affinity may only be set when spec.strategy is Affinity",
            field_path=".affinity",
            check=lambda s: s.affinity is None or s.strategy == "Affinity",
        ),
        CelRule(
            rule="self.strategy != 'Affinity' || has(self.affinity)",
            message="spec.affinity is required when spec.strategy is Affinity",
            field_path=".affinity",
            check=lambda s: s.strategy != "Affinity" or s.affinity is not None,
        ),
    )

    strategy: Strategy = Field(
        description=(
            "`RoundRobin`: successive workloads go to the next eligible clusters in name order, continuing"
            " from `status.roundRobinCursor`. `Affinity`: clusters are ranked by `spec.affinity` and the best"
            " are chosen. `Spread`: clusters are chosen across the topology domains of `spec.spread`."
        )
    )
    workload_selector: WorkloadSelector = Field(
        default_factory=lambda: WorkloadSelector(),
        description="Workloads of this placement's namespace it decides for; defaults to all Deployments.",
        json_schema_extra={"default": {}},
    )
    location_selector: LabelSelector | None = Field(
        default=None,
        description=(
            "Selects ClusterRegistrations by `metadata.labels` plus `tmc.kcp.io/location`; absent selects all"
            " clusters of the workspace. `{region: us-west}` needs that label on the registration: a"
            " location of `us-west-2` alone does not match it."
        ),
    )
    capability_requirements: Annotated[list[CapabilityRequirement], Field(max_length=32), ListMap("type")] = Field(
        default_factory=list,
        description="Capabilities the chosen clusters must (or should) offer, unique by type.",
    )
    number_of_clusters: NumberOfClusters = Field(
        default_factory=lambda: NumberOfClusters(),
        description="How many clusters each workload runs on; defaults to exactly one.",
        json_schema_extra={"default": {}},
    )
    replica_division: ReplicaDivision = Field(
        default_factory=lambda: ReplicaDivision(),
        description="How replicas are shared among the chosen clusters; defaults to an even split.",
        json_schema_extra={"default": {}},
    )
    affinity: Affinity | None = Field(
        default=None, description="Ranking rules; required with, and only allowed with, `Affinity`."
    )
    spread: Spread | None = Field(
        default=None,
        description="Spread parameters; only allowed with `Spread`, whose defaults apply when absent.",
    )
    fallback_groups: Annotated[list[FallbackGroup], Field(max_length=8), Atomic()] = Field(
        default_factory=list,
        description=(
            "Tried in order when `locationSelector` yields fewer than `numberOfClusters.min` eligible"
            " clusters; the first group that yields enough is used."
        ),
    )
    tolerations: Annotated[list[Toleration], Field(max_length=64), Atomic()] = Field(
        default_factory=list, description="Cluster taints this placement tolerates."
    )
    rebalance: Literal["Never", "OnClusterChange"] = Field(
        default="Never",
        description=(
            "`Never` (default): decisions are sticky, a placed workload stays where it is while its clusters"
            " remain eligible. `OnClusterChange`: decisions are recomputed from scratch, so a cluster that joins"
            " or recovers gets its share again (not for `RoundRobin`, whose cursor would move every workload)."
        ),
    )
    purge_mode: Literal["Graceful", "Immediately", "Never"] = Field(
        default="Graceful",
        description=(
            "Failover: when copies on a cluster that is no longer chosen are removed. `Graceful` (default): once"
            " the replacement copies are healthy, and when the old cluster is reachable again; `Immediately`;"
            " `Never` (the operator removes them)."
        ),
    )


class WorkloadReference(ApiModel):
    """Identifies one workload object."""

    api_version: str = Field(description="API group and version, e.g. `apps/v1`.", max_length=DNS_SUBDOMAIN_MAX)
    kind: str = Field(description="Kind, e.g. `Deployment`.", max_length=63)
    namespace: str = Field(description="Namespace (always the placement's own).", max_length=DNS_LABEL_MAX)
    name: str = Field(description="Name of the workload.", max_length=DNS_SUBDOMAIN_MAX)


class ClusterAssignment(ApiModel):
    """One cluster chosen for a workload."""

    name: str = Field(description="Name of the ClusterRegistration.", max_length=DNS_SUBDOMAIN_MAX)
    replicas: int | None = Field(
        default=None, ge=0, description="Replicas this cluster runs; absent for workloads without replicas."
    )


class PlacementDecision(ApiModel):
    """Where one selected workload runs."""

    workload: WorkloadReference = Field(description="The workload decided for.")
    clusters: Annotated[list[ClusterAssignment], ListMap("name")] = Field(
        default_factory=list, description="Chosen clusters with their replica counts; empty when none fit."
    )
    fallback_group: int | None = Field(
        default=None,
        ge=0,
        description="Index into `spec.fallbackGroups` that was used; absent for the primary selection.",
    )


class WorkloadPlacementStatus(ApiModel):
    """Observed state of a WorkloadPlacement, written by TMC."""

    observed_generation: int | None = Field(
        default=None, ge=0, description="`metadata.generation` of the spec the decisions were computed from."
    )
    conditions: Annotated[list[Condition], ListMap("type")] = Field(
        default_factory=list,
        description="`Scheduled` is `True` when every selected workload has enough clusters. Where each workload"
        " runs is in its WorkloadBinding (`kubectl get workloadbindings`), so this object's size never grows with"
        " the number of workloads.",
    )
    round_robin_cursor: int = Field(
        default=0,
        ge=0,
        description="Strategy `RoundRobin`: position in the name-ordered cluster list to continue from.",
    )
    workloads: int = Field(default=0, ge=0, description="How many workloads the placement selects.")
    scheduled_workloads: int = Field(
        default=0, ge=0, description="How many of them have enough clusters (each has its WorkloadBinding)."
    )
    selected_clusters: str | None = Field(
        default=None,
        description="Comma-joined names of all chosen clusters (shortened if long), for `kubectl get`.",
        max_length=SELECTED_CLUSTERS_MAX,
    )


class WorkloadPlacement(ApiModel):
    """A placement policy: on which physical clusters the workloads of its namespace run.

    Namespaced, like Karmada's PropagationPolicy and OCM's Placement: it selects workloads in its
    own namespace only (created without a namespace, kubectl puts it in `default`).
    """

    api_version: Literal["tmc.kcp.io/v1alpha1"] = Field(
        default="tmc.kcp.io/v1alpha1", description="`tmc.kcp.io/v1alpha1`."
    )
    kind: Literal["WorkloadPlacement"] = Field(default="WorkloadPlacement", description="`WorkloadPlacement`.")
    metadata: ObjectMeta = Field(default_factory=lambda: ObjectMeta(), description="Standard object metadata.")
    spec: WorkloadPlacementSpec = Field(description="Desired placement, written by the tenant.")
    status: WorkloadPlacementStatus = Field(
        default_factory=lambda: WorkloadPlacementStatus(), description="Observed placement, written by TMC."
    )


def summarize_clusters(names: list[str], max_length: int = SELECTED_CLUSTERS_MAX) -> str:
    """``status.selectedClusters`` for ``names``: sorted, comma-joined, ``+N more`` when too long.

    >>> summarize_clusters(["b", "a"])
    'a,b'
    """
    ordered = sorted(set(names))
    full = ",".join(ordered)
    if len(full) <= max_length:
        return full
    for shown in range(len(ordered) - 1, -1, -1):
        text = ",".join(ordered[:shown])
        suffix = f"+{len(ordered) - shown} more"
        candidate = f"{text},{suffix}" if text else suffix
        if len(candidate) <= max_length:
            return candidate
    return f"+{len(ordered)} more"[:max_length]
