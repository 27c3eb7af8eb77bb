"""Copies' state -> per-cluster health, and the status the tenant's own object shows. Pure.

The tenant runs ``kubectl get deploy web`` or ``kubectl rollout status deploy/web`` in its workspace, so the
aggregate speaks the kind's own status language: Deployments and StatefulSets sum their replica counts, Jobs
their pod counts, Services list every load balancer address. ``observedGeneration`` advances only when every
chosen cluster has applied the current generation and its controller has observed it, which is what makes
``rollout status`` wait for all clusters. A cluster whose state is Unknown (lost, unreachable) counts for
nothing: its copies are not available as far as the tenant can know. With one cluster the copy's status passes
through whole (its ``observedGeneration`` translated to the tenant's generation).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any

JSON = dict[str, Any]

REPLICA_FIELDS = ("replicas", "readyReplicas", "updatedReplicas", "availableReplicas")
JOB_FIELDS = ("active", "succeeded", "failed")


def observe_copy(kind: str, copy: JSON | None, desired_replicas: int | None) -> JSON:
    """The per-cluster fields a copy's current state gives: counts, observed generation, health."""
    if copy is None:
        return {"health": "Unknown"}
    status = copy.get("status") or {}
    generation = copy.get("metadata", {}).get("generation")
    observed = status.get("observedGeneration")
    out: JSON = {}
    if observed is not None:
        out["observedGeneration"] = observed
    caught_up = generation is None or (observed is not None and observed >= generation)
    if kind in ("Deployment", "StatefulSet"):
        for field in REPLICA_FIELDS:
            out[field] = int(status.get(field) or 0)
        conditions = {c.get("type"): c for c in status.get("conditions") or []}
        progressing = conditions.get("Progressing") or {}
        want = desired_replicas if desired_replicas is not None else int((copy.get("spec") or {}).get("replicas", 1))
        if progressing.get("reason") == "ProgressDeadlineExceeded":
            out["health"] = "Unhealthy"
        elif caught_up and out["availableReplicas"] >= want and out["updatedReplicas"] >= want:
            out["health"] = "Healthy"
        else:
            out["health"] = "Progressing"
    elif kind == "DaemonSet":
        ready, desired = int(status.get("numberReady") or 0), int(status.get("desiredNumberScheduled") or 0)
        out["health"] = "Healthy" if caught_up and ready >= desired else "Progressing"
    elif kind == "Job":
        for field in JOB_FIELDS:
            out[field] = int(status.get(field) or 0)
        conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
        out["health"] = (
            "Unhealthy"
            if conditions.get("Failed") == "True"
            else "Healthy"
            if conditions.get("Complete") == "True"
            else "Progressing"
        )
    elif kind == "Service":
        ingress = (status.get("loadBalancer") or {}).get("ingress") or []
        out["loadBalancerIngress"] = [str(i.get("ip") or i.get("hostname") or "") for i in ingress][:16]
        out["health"] = "Healthy"
    else:
        out["health"] = "Healthy"
    return out


def counts(entry: Mapping[str, Any]) -> bool:
    """Whether a cluster's entry counts in the aggregate: its copy was seen and its cluster is not lost."""
    return bool(entry.get("health", "Unknown") != "Unknown")


def aggregate_status(
    kind: str,
    workload: JSON,
    entries: Sequence[Mapping[str, Any]],
    wanted: Mapping[str, int | None],
    copies: Mapping[str, JSON | None],
    now: str,
) -> JSON | None:
    """The tenant object's new status, or ``None`` when the kind has none worth writing.

    ``entries``: the binding's per-cluster entries (with ``sourceGeneration``, ``health``, counts); ``copies``:
    each wanted cluster's copy as last seen (for single-cluster pass-through).
    """
    generation = workload.get("metadata", {}).get("generation")
    old: JSON = dict(workload.get("status") or {})
    by_name = {e["name"]: e for e in entries if e["name"] in wanted}
    all_caught_up = bool(wanted) and all(
        name in by_name
        and by_name[name].get("applied")
        and by_name[name].get("sourceGeneration") == generation
        and counts(by_name[name])
        and _copy_caught_up(by_name[name])
        for name in wanted
    )
    observed_generation = generation if all_caught_up else old.get("observedGeneration")
    live = [by_name[name] for name in sorted(wanted) if name in by_name and counts(by_name[name])]
    lost = [_unknown_because(name, by_name.get(name)) for name in sorted(wanted) if not counts(by_name.get(name, {}))]

    if kind in ("Deployment", "StatefulSet"):
        if len(wanted) == 1 and not lost:
            (only,) = wanted
            copy = copies.get(only)
            if copy is not None and copy.get("status") is not None:
                status = dict(copy["status"])
                status.pop("observedGeneration", None)
                if kind == "StatefulSet":
                    status.pop("currentRevision", None)
                    status.pop("updateRevision", None)
                status["observedGeneration"] = observed_generation
                return _without_none(status)
        status = {field: sum(int(e.get(field) or 0) for e in live) for field in REPLICA_FIELDS}
        desired = int((workload.get("spec") or {}).get("replicas", 1))
        if kind == "Deployment":
            status["unavailableReplicas"] = max(0, desired - status["availableReplicas"])
        status["observedGeneration"] = observed_generation
        status["conditions"] = _conditions(old, live, lost, desired, status, now)
        return _without_none(status)
    if kind == "Job":
        status = {field: sum(int(e.get(field) or 0) for e in live) for field in JOB_FIELDS}
        return {**{k: v for k, v in old.items() if k not in JOB_FIELDS}, **status}
    if kind == "Service":
        ingress = sorted({address for e in live for address in e.get("loadBalancerIngress", []) if address})
        balancer = {"ingress": [{"ip": a} if _is_ip(a) else {"hostname": a} for a in ingress]} if ingress else {}
        return {**old, "loadBalancer": balancer}
    if kind == "DaemonSet":
        return None
    return None


def _unknown_because(name: str, entry: Mapping[str, Any] | None) -> str:
    """Why a chosen cluster's state does not count, in the words of its entry (a reason, never a server message:
    it is stable between reconciles, so the condition is not rewritten while nothing changes)."""
    if entry is None:
        return f"{name} (not synced yet)"
    if entry.get("applied") and entry.get("reason") == "Applied":
        return f"{name} (applied, copy not observed yet)"
    return f"{name} ({entry.get('reason') or 'not observed'})"


def _copy_caught_up(entry: Mapping[str, Any]) -> bool:
    applied, observed = entry.get("appliedGeneration"), entry.get("observedGeneration")
    return applied is None or (observed is not None and observed >= applied)


def _conditions(
    old: JSON, live: Sequence[Mapping[str, Any]], lost: Sequence[str], desired: int, status: JSON, now: str
) -> list[JSON]:
    previous = {c.get("type"): c for c in old.get("conditions") or []}
    unhealthy = [e["name"] for e in live if e.get("health") == "Unhealthy"]
    if lost:
        available = (
            "False",
            "ClustersUnavailable",
            f"state unknown on {', '.join(lost)}",
        )
    elif status["availableReplicas"] >= desired:
        available = (
            "True",
            "MinimumReplicasAvailable",
            f"{status['availableReplicas']}/{desired} available across clusters",
        )
    else:
        available = (
            "False",
            "MinimumReplicasUnavailable",
            f"{status['availableReplicas']}/{desired} available across clusters",
        )
    if unhealthy:
        progressing = ("False", "ProgressDeadlineExceeded", f"rollout stuck on {', '.join(unhealthy)}")
    elif all(e.get("health") == "Healthy" for e in live) and not lost:
        progressing = ("True", "NewReplicaSetAvailable", f"rolled out on {len(live)} cluster(s)")
    else:
        progressing = (
            "True",
            "ReplicaSetUpdated",
            "rollout in progress on " + ", ".join(e["name"] for e in live if e.get("health") != "Healthy")
            if live
            else "waiting for clusters",
        )
    out = []
    for kind_of, (state, reason, message) in (("Available", available), ("Progressing", progressing)):
        before = previous.get(kind_of) or {}
        unchanged = (before.get("status"), before.get("reason"), before.get("message")) == (state, reason, message)
        out.append(
            {
                "type": kind_of,
                "status": state,
                "reason": reason,
                "message": message,
                "lastTransitionTime": before.get("lastTransitionTime", now) if before.get("status") == state else now,
                "lastUpdateTime": before.get("lastUpdateTime", now) if unchanged else now,
            }
        )
    return out


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _without_none(status: JSON) -> JSON:
    return {k: v for k, v in status.items() if v is not None}
