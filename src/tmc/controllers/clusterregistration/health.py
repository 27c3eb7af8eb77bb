"""Pure health bookkeeping for a ClusterRegistration: from probe results to status fields.

Reachable follows the latest probe; Ready tolerates missed heartbeats for a grace period (a single dropped
probe must not move workloads), then turns False with reason HeartbeatMissed.
"""

from __future__ import annotations

from dataclasses import dataclass

from tmc.controllers.clusterregistration.probe import ProbeResult

# A capability is confirmed by discovery when the cluster serves the resource it needs.
CAPABILITY_RESOURCES: dict[str, str] = {
    "compute": "deployments.apps/v1",
    "storage": "persistentvolumeclaims/v1",
    "networking": "ingresses.networking.k8s.io/v1",
    "batch": "jobs.batch/v1",
}


@dataclass(frozen=True, slots=True)
class EffectiveCapability:
    type: str
    available: bool
    declared: bool
    discovered: bool | None
    reason: str


def effective_capabilities(
    declared: list[tuple[str, bool]], api_resources: tuple[str, ...] | None
) -> list[EffectiveCapability]:
    served = set(api_resources or ())
    result = []
    for capability_type, is_declared in declared:
        needed = CAPABILITY_RESOURCES.get(capability_type)
        discovered = None if needed is None or api_resources is None else needed in served
        if not is_declared:
            reason = "declared unavailable"
        elif discovered is None:
            reason = "declared; not verifiable by discovery" if needed is None else "declared; cluster not probed yet"
        elif discovered:
            reason = f"declared and {needed} is served"
        else:
            reason = f"declared but {needed} is not served by the cluster"
        result.append(
            EffectiveCapability(
                capability_type, is_declared and discovered is not False, is_declared, discovered, reason
            )
        )
    return result


@dataclass(frozen=True, slots=True)
class HealthVerdict:
    ready: bool
    reason: str
    message: str


def ready_verdict(
    probe: ProbeResult, *, now: float, last_heartbeat: float | None, grace_seconds: float
) -> HealthVerdict:
    if probe.ready:
        return HealthVerdict(True, "ClusterReady", probe.message)
    if last_heartbeat is not None and now - last_heartbeat < grace_seconds:
        remaining = grace_seconds - (now - last_heartbeat)
        return HealthVerdict(
            True,
            "HeartbeatLate",
            f"last probe failed ({probe.reason}); NotReady in {remaining:.0f}s unless it recovers",
        )
    if last_heartbeat is None:
        return HealthVerdict(False, probe.reason, probe.message)
    return HealthVerdict(
        False, "HeartbeatMissed", f"no successful heartbeat for {now - last_heartbeat:.0f}s: {probe.message}"
    )
