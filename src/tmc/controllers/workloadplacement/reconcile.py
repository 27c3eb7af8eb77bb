"""WorkloadPlacement: candidates and workloads of the placement's own workspace -> engine -> status.

Steps: (1) build the engine's inputs only from objects whose logical cluster equals the placement's (the
isolation guarantee lives here and in the informers' per-cluster index); (2) validate the policy (a bad
policy is the user's to fix: condition, no retry); (3) ``decide_many`` with previous decisions and the
persisted round-robin cursor; (4) write decisions, cursor, Scheduled condition and observedGeneration to
status when they changed. NotReady clusters change registrations, which re-enqueue their placements, so a
failed cluster is replaced in the next reconcile; toleration windows are honoured by a timed requeue.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from tmc.api import WORKLOAD_PLACEMENT
from tmc.api.conditions import set_condition
from tmc.api.meta import Condition
from tmc.api.workload_placement import summarize_clusters
from tmc.controllers.workloadplacement.convert import candidate_of, policy_of, selector, workload_key, workload_of
from tmc.errors import ConflictError, NotFoundError
from tmc.kcp.paths import LogicalClusterPath
from tmc.kcp.resources import resource_of
from tmc.kcp.rest import JSON, KubeClient
from tmc.placement import (
    CandidateSet,
    DecisionContext,
    PlacementStatus,
    PlacementValidationError,
    compile_selector,
    decide_many,
)
from tmc.runtime import BY_CLUSTER, Informer, ObjectKey, Result, get_logger
from tmc.runtime.keys import cluster_of

PLACEMENTS = resource_of(WORKLOAD_PLACEMENT)
log = get_logger(__name__)


class WorkloadPlacementReconciler:
    def __init__(
        self,
        client: KubeClient,
        placements: Informer,
        registrations: Informer,
        workloads: Informer,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.placements = placements
        self.registrations = registrations
        self.workloads = workloads
        self.clock = clock

    def selected_workloads(self, placement: JSON) -> list[JSON]:
        cluster, namespace = cluster_of(placement), placement["metadata"].get("namespace", "")
        spec = placement.get("spec", {})
        workload_selector = spec.get("workloadSelector") or {}
        refs = workload_selector.get("resources") or [{"apiVersion": "apps/v1", "kind": "Deployment"}]
        labels = compile_selector(
            selector(workload_selector.get("labelSelector")), "spec.workloadSelector.labelSelector"
        )
        chosen = []
        for workload in self.workloads.by_index(BY_CLUSTER, cluster):
            metadata = workload["metadata"]
            if metadata.get("namespace") != namespace:
                continue
            for ref in refs:
                if ref.get("kind", "Deployment") == "Deployment" and ref.get("name") in (None, metadata["name"]):
                    if labels.matches(metadata.get("labels") or {}):
                        chosen.append(workload)
                    break
        return sorted(chosen, key=workload_key)

    async def reconcile(self, key: ObjectKey) -> Result:
        placement = self.placements.get(key)
        if placement is None or placement["metadata"].get("deletionTimestamp"):
            return Result()
        now = self.clock()
        status: dict[str, Any] = dict(placement.get("status") or {})
        generation = placement["metadata"].get("generation")
        moment = datetime.fromtimestamp(now, UTC).replace(microsecond=0)
        conditions = [Condition.model_validate(c) for c in status.get("conditions", [])]
        try:
            policy = policy_of(placement)
        except (PlacementValidationError, ValueError) as exc:
            set_condition(conditions, "Scheduled", "False", "InvalidPolicy", str(exc)[:1024], generation, moment)
            status.update(conditions=[c.to_dict() for c in conditions], observedGeneration=generation)
            await self._write(placement, status)
            return Result()
        candidates = CandidateSet([candidate_of(r) for r in self.registrations.by_index(BY_CLUSTER, key.cluster)])
        workloads = self.selected_workloads(placement)
        previous = {
            _decision_key(d): tuple((c["name"], int(c.get("replicas") or 0)) for c in d.get("clusters", []))
            for d in status.get("decisions", [])
        }
        batch = decide_many(
            candidates,
            policy,
            [workload_of(w) for w in workloads],
            previous,
            DecisionContext(now=now, round_robin_cursor=int(status.get("roundRobinCursor") or 0)),
        )
        decisions: list[JSON] = []
        selected: set[str] = set()
        problems: list[str] = []
        for workload in workloads:
            result = batch.results[workload_key(workload)]
            if result.status is not PlacementStatus.SCHEDULED:
                problems.append(f"{workload['metadata']['name']}: {result.message}")
            selected.update(name for name, _ in result.decision)
            decisions.append(
                {
                    "workload": {
                        "apiVersion": workload.get("apiVersion", "apps/v1"),
                        "kind": workload.get("kind", "Deployment"),
                        "namespace": workload["metadata"]["namespace"],
                        "name": workload["metadata"]["name"],
                    },
                    "clusters": [{"name": name, "replicas": replicas} for name, replicas in result.decision],
                    **({"fallbackGroup": result.fallback_group} if result.fallback_group is not None else {}),
                }
            )
        if not workloads:
            set_condition(
                conditions,
                "Scheduled",
                "True",
                "NoWorkloads",
                "no workload matches spec.workloadSelector",
                generation,
                moment,
            )
        elif problems:
            reason = "NoEligibleClusters" if not selected else "PartiallyScheduled"
            set_condition(conditions, "Scheduled", "False", reason, "; ".join(problems)[:1024], generation, moment)
        else:
            set_condition(
                conditions,
                "Scheduled",
                "True",
                "Scheduled",
                f"{len(workloads)} workload(s) placed on {len(selected)} cluster(s)",
                generation,
                moment,
            )
        status.update(
            observedGeneration=generation,
            conditions=[c.to_dict() for c in conditions],
            decisions=decisions,
            roundRobinCursor=batch.round_robin_cursor,
            selectedClusters=summarize_clusters(sorted(selected)),
        )
        await self._write(placement, status)
        return Result()

    async def _write(self, placement: JSON, status: dict[str, Any]) -> None:
        if status == placement.get("status"):
            return
        metadata = placement["metadata"]
        try:
            await self.client.merge_patch(
                PLACEMENTS,
                metadata["name"],
                {"metadata": {"resourceVersion": metadata["resourceVersion"]}, "status": status},
                cluster=LogicalClusterPath(cluster_of(placement)),
                namespace=metadata.get("namespace"),
                subresource="status",
            )
        except (ConflictError, NotFoundError):
            log.debug("status write for %s skipped: object changed", metadata["name"])


def _decision_key(decision: JSON) -> str:
    ref = decision.get("workload", {})
    return f"{ref.get('apiVersion', '')}/{ref.get('kind', '')}/{ref.get('namespace', '')}/{ref.get('name', '')}"
