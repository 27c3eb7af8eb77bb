"""WorkloadPlacement: candidates and workloads of the placement's own workspace -> engine -> status.

Steps: (1) build the engine's inputs only from objects whose logical cluster equals the placement's (the
isolation guarantee lives here and in the informers' per-cluster index); (2) validate the policy (a bad
policy is the user's to fix: condition, no retry); (3) ``decide_many`` with the previous decisions (read back
from the WorkloadBindings) and the persisted round-robin cursor; (4) converge one WorkloadBinding per placed
workload (``bindings.py``); (5) write counts, cursor, Scheduled condition and observedGeneration to status
through the process's ``StatusWriter`` (nothing is written when nothing changed; on a conflict the result is
applied to the fresh object). NotReady clusters change registrations, which re-enqueue their placements, so a
failed cluster is replaced in the next reconcile; a toleration window (``tolerationSeconds`` for a NotReady
cluster or a NoExecute taint) that will end is requeued for exactly that moment.
A deleted placement's bindings are deleted (the sync engine's finalizer keeps each until its copies are gone).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from tmc.api import WORKLOAD_PLACEMENT, binding_name, placement_label
from tmc.api.conditions import set_condition
from tmc.api.constants import PLACEMENT_LABEL
from tmc.api.meta import Condition
from tmc.api.workload_placement import summarize_clusters
from tmc.controllers.workloadplacement.bindings import (
    BindingWriter,
    DesiredBinding,
    claimed_elsewhere,
    previous_decision,
    sticky,
)
from tmc.controllers.workloadplacement.convert import candidate_of, policy_of, workload_key, workload_of
from tmc.controllers.workloadplacement.selection import select_workloads
from tmc.kcp.paths import LogicalClusterPath
from tmc.kcp.resources import resource_of
from tmc.kcp.rest import JSON, KubeClient
from tmc.placement import (
    CandidateSet,
    DecisionContext,
    PlacementStatus,
    PlacementValidationError,
    decide_many,
    next_toleration_expiry,
)
from tmc.runtime import BY_CLUSTER, SYSTEM_CLOCK, Informer, ObjectKey, Result, StatusWriter, get_logger
from tmc.runtime.keys import cluster_of

PLACEMENTS = resource_of(WORKLOAD_PLACEMENT)
log = get_logger(__name__)


class WorkloadPlacementReconciler:
    def __init__(
        self,
        client: KubeClient,
        placements: Informer,
        registrations: Informer,
        workloads: Mapping[str, Informer],
        bindings: Informer,
        *,
        status: StatusWriter | None = None,
        clock: Callable[[], float] = SYSTEM_CLOCK.wall,
    ) -> None:
        """``workloads``: one informer per placeable kind, keyed by ``<apiVersion>/<kind>``."""
        self.client = client
        self.placements = placements
        self.registrations = registrations
        self.workloads = workloads
        self.bindings = bindings
        self.binding_writer = BindingWriter(client)
        self.status = status if status is not None else StatusWriter(client, field_manager="tmc-controller")
        self.clock = clock

    def selected_workloads(self, placement: JSON) -> list[JSON]:
        """The workloads of the placement's own workspace and namespace its selector picks, kind stamped."""
        cluster = cluster_of(placement)

        def cached(kind_key: str) -> list[JSON]:
            informer = self.workloads.get(kind_key)
            return informer.by_index(BY_CLUSTER, cluster) if informer is not None else []

        return select_workloads(placement, cached)

    def bindings_of(self, cluster: str, namespace: str, placement: str) -> list[JSON]:
        return [
            b
            for b in self.bindings.by_index(BY_CLUSTER, cluster)
            if b["metadata"].get("namespace") == namespace
            and (b["metadata"].get("labels") or {}).get(PLACEMENT_LABEL) == placement_label(placement)
        ]

    def binding_of(self, cluster: str, workload: JSON) -> JSON | None:
        metadata = workload["metadata"]
        name = binding_name(workload["kind"], metadata["name"])
        return self.bindings.get(ObjectKey(cluster, metadata["namespace"], name))

    async def reconcile(self, key: ObjectKey) -> Result:
        placement = self.placements.get(key)
        if placement is None or placement["metadata"].get("deletionTimestamp"):
            stale = self.bindings_of(key.cluster, key.namespace, key.name)
            await self.binding_writer.delete_all(LogicalClusterPath(key.cluster), key.namespace, stale)
            return Result()
        now = self.clock()
        status: dict[str, Any] = dict(placement.get("status") or {})
        generation = placement["metadata"].get("generation")
        moment = datetime.fromtimestamp(now, UTC).replace(microsecond=0)
        try:
            policy = policy_of(placement)
        except (PlacementValidationError, ValueError) as exc:
            scheduled = _Scheduled("False", "InvalidPolicy", str(exc)[:1024])
            await self._write(placement, scheduled, {}, generation, moment)
            return Result()
        candidate_list = [candidate_of(r) for r in self.registrations.by_index(BY_CLUSTER, key.cluster)]
        candidates = CandidateSet(candidate_list)
        name = placement["metadata"]["name"]
        claimed: dict[str, str] = {}
        workloads = []
        for workload in self.selected_workloads(placement):
            owner = claimed_elsewhere(self.binding_of(key.cluster, workload), name)
            if owner is None:
                workloads.append(workload)
            else:
                claimed[workload["metadata"]["name"]] = owner
        previous = {
            workload_key(w): decision
            for w in workloads
            if sticky(placement) and (decision := previous_decision(self.binding_of(key.cluster, w))) is not None
        }
        batch = decide_many(
            candidates,
            policy,
            [workload_of(w) for w in workloads],
            previous,
            DecisionContext(now=now, round_robin_cursor=int(status.get("roundRobinCursor") or 0)),
        )
        desired: list[DesiredBinding] = []
        selected: set[str] = set()
        problems = [f"{w}: already placed by WorkloadPlacement {owner}" for w, owner in sorted(claimed.items())]
        for workload in workloads:
            result = batch.results[workload_key(workload)]
            if result.status is not PlacementStatus.SCHEDULED:
                problems.append(f"{workload['metadata']['name']}: {result.message}")
            selected.update(cluster for cluster, _ in result.decision)
            replicas_matter = "replicas" in (workload.get("spec") or {}) or workload["kind"] in _REPLICATED_KINDS
            desired.append(
                DesiredBinding(
                    workload,
                    tuple((cluster, count if replicas_matter else None) for cluster, count in result.decision),
                    result.fallback_group,
                    str(placement.get("spec", {}).get("purgeMode") or "Graceful"),
                )
            )
        await self.binding_writer.converge(
            LogicalClusterPath(key.cluster),
            key.namespace,
            name,
            desired,
            self.bindings_of(key.cluster, key.namespace, name),
        )
        if not workloads and not claimed:
            scheduled = _Scheduled("True", "NoWorkloads", "no workload matches spec.workloadSelector")
        elif problems:
            reason = "NoEligibleClusters" if not selected else "PartiallyScheduled"
            scheduled = _Scheduled("False", reason, "; ".join(problems)[:1024])
        else:
            message = f"{len(workloads)} workload(s) placed on {len(selected)} cluster(s)"
            scheduled = _Scheduled("True", "Scheduled", message)
        fields = {
            "workloads": len(workloads) + len(claimed),
            "scheduledWorkloads": sum(
                1 for w in workloads if batch.results[workload_key(w)].status is PlacementStatus.SCHEDULED
            ),
            "roundRobinCursor": batch.round_robin_cursor,
            "selectedClusters": summarize_clusters(sorted(selected)),
        }
        await self._write(placement, scheduled, fields, generation, moment)
        # A tolerated NotReady cluster (or NoExecute taint) stops being tolerated at a known moment: look again then.
        expiry = next_toleration_expiry(candidate_list, policy.tolerations, now)
        return Result(requeue_after=max(0.0, expiry - now) + 0.05) if expiry is not None else Result()

    async def _write(
        self, placement: JSON, scheduled: _Scheduled, fields: dict[str, Any], generation: int | None, moment: datetime
    ) -> None:
        """This reconcile's result, applied to whichever version of the placement the writer holds."""

        def desired(current: JSON) -> JSON:
            status: dict[str, Any] = dict(current.get("status") or {})
            conditions = [Condition.model_validate(c) for c in status.get("conditions", [])]
            set_condition(
                conditions, "Scheduled", scheduled.status, scheduled.reason, scheduled.message, generation, moment
            )
            status.update(fields, observedGeneration=generation, conditions=[c.to_dict() for c in conditions])
            return status

        await self.status.write(PLACEMENTS, placement, desired)


@dataclass(frozen=True, slots=True)
class _Scheduled:
    status: Literal["True", "False", "Unknown"]
    reason: str
    message: str


# Kinds whose replica count the decision divides; others get a copy per cluster without a count.
_REPLICATED_KINDS = frozenset({"Deployment", "StatefulSet"})
