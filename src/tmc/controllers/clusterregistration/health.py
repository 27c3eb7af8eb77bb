"""Effective capabilities of a ClusterRegistration: what its owner declares, checked against discovery."""

from __future__ import annotations

from dataclasses import dataclass

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
