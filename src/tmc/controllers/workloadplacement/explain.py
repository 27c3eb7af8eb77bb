"""``tmc explain``: the engine's per-cluster verdicts for one placement, computed by the same code that decides.

Reads the placement, the registrations and the selected workloads of one workspace (selected by the controller's
own rule, ``selection.py``, over every kind the placement names) and runs the engine with
the placement's current decisions (its WorkloadBindings) as history, without writing anything.
"""

from __future__ import annotations

from dataclasses import dataclass

from tmc.api import CLUSTER_REGISTRATION, WORKLOAD_RESOURCES, placement_label
from tmc.api.constants import PLACEMENT_LABEL
from tmc.controllers.workloadplacement.bindings import BINDINGS, previous_decision, sticky
from tmc.controllers.workloadplacement.convert import candidate_of, policy_of, workload_of
from tmc.controllers.workloadplacement.reconcile import PLACEMENTS
from tmc.controllers.workloadplacement.selection import select_workloads, workload_refs
from tmc.errors import ConfigError, NotFoundError
from tmc.kcp.paths import LogicalClusterPath
from tmc.kcp.resources import Resource, resource_of
from tmc.kcp.rest import JSON, KubeClient
from tmc.placement import CandidateSet, DecisionContext, decide

PLACEABLE: dict[str, Resource] = {f"{info.api_version}/{info.kind}": resource_of(info) for info in WORKLOAD_RESOURCES}


class NotServedError(ConfigError):
    """A kind the placement selects is not served in the workspace: not bound to TMC's ``kubernetes`` export."""

    def __init__(self, workspace: LogicalClusterPath, what: str, detail: str) -> None:
        super().__init__(
            f"workspace {workspace} does not serve {what} ({detail}), which the placement selects; "
            f"bind it with `tmc bind {workspace}`"
        )


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
    listed: dict[str, list[JSON]] = {}
    for ref in workload_refs(placement):
        resource = PLACEABLE.get(ref.kind_key)
        if resource is None or ref.kind_key in listed:
            continue  # a kind TMC does not place selects nothing, as in the controller
        try:
            listing = await client.list(resource, cluster=workspace, namespace=namespace)
        except NotFoundError as exc:
            raise NotServedError(workspace, f"{resource.plural}.{resource.group or 'core'}", exc.message) from None
        listed[ref.kind_key] = listing["items"]
    policy = policy_of(placement)
    candidates = CandidateSet([candidate_of(r) for r in registrations["items"]])
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
    for item in select_workloads(placement, lambda kind_key: listed.get(kind_key, [])):
        workload = workload_of(item)
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
