"""``tmc explain``: the engine's per-cluster verdicts for one placement, computed by the same code that decides.

Reads the placement, the registrations and the selected workloads of one workspace and runs the engine with
the placement's current decisions (its WorkloadBindings) as history, without writing anything.
"""

from __future__ import annotations

from dataclasses import dataclass

from tmc.api import CLUSTER_REGISTRATION, placement_label
from tmc.api.constants import PLACEMENT_LABEL
from tmc.controllers.workloadplacement.bindings import BINDINGS, previous_decision, sticky
from tmc.controllers.workloadplacement.convert import candidate_of, policy_of, selector, workload_key, workload_of
from tmc.controllers.workloadplacement.reconcile import PLACEMENTS
from tmc.kcp.paths import LogicalClusterPath
from tmc.kcp.resources import DEPLOYMENTS, resource_of
from tmc.kcp.rest import KubeClient
from tmc.placement import CandidateSet, DecisionContext, compile_selector, decide


@dataclass(frozen=True, slots=True)
class ClusterVerdict:
    workload: str
    cluster: str
    eligible: bool
    selected: bool
    replicas: int | None
    score: int | None
    reasons: tuple[str, ...]


async def explain_placement(
    client: KubeClient, workspace: LogicalClusterPath, namespace: str, name: str, *, now: float
) -> list[ClusterVerdict]:
    placement = await client.get(PLACEMENTS, name, cluster=workspace, namespace=namespace)
    registrations = await client.list(resource_of(CLUSTER_REGISTRATION), cluster=workspace)
    deployments = await client.list(DEPLOYMENTS, cluster=workspace, namespace=namespace)
    policy = policy_of(placement)
    candidates = CandidateSet([candidate_of(r) for r in registrations["items"]])
    label_selector = (placement["spec"].get("workloadSelector") or {}).get("labelSelector")
    matcher = compile_selector(selector(label_selector), "spec.workloadSelector.labelSelector")
    bindings = await client.list(
        BINDINGS,
        cluster=workspace,
        namespace=namespace,
        params={"labelSelector": f"{PLACEMENT_LABEL}={placement_label(name)}"},
    )
    previous = {
        "/".join(str(b["spec"]["workload"].get(k, "")) for k in ("apiVersion", "kind", "namespace", "name")): decision
        for b in bindings["items"]
        if sticky(placement) and (decision := previous_decision(b)) is not None
    }
    rebalance = (
        "decisions are sticky (rebalance: Never): placed workloads stay while their clusters remain eligible"
        if sticky(placement)
        else "decisions are recomputed (rebalance: OnClusterChange): a joining or recovering cluster gets its share"
    )
    verdicts = []
    cursor = int((placement.get("status") or {}).get("roundRobinCursor") or 0)
    for item in sorted(deployments["items"], key=workload_key):
        if not matcher.matches(item["metadata"].get("labels") or {}):
            continue
        workload = workload_of({**item, "apiVersion": "apps/v1", "kind": "Deployment"})
        result = decide(candidates, policy, workload, previous.get(workload.key), DecisionContext(now, cursor))
        for explanation in sorted(result.explanations.values(), key=lambda e: e.cluster):
            verdicts.append(
                ClusterVerdict(
                    workload=item["metadata"]["name"],
                    cluster=explanation.cluster,
                    eligible=explanation.eligible,
                    selected=explanation.selected,
                    replicas=explanation.replicas,
                    score=explanation.score.total if explanation.score else None,
                    reasons=(*(reason.message for reason in explanation.reasons), rebalance),
                )
            )
    return verdicts
