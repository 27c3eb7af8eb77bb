"""The example ``tmc up`` applies: the seed's Spread placement and a Deployment ``web`` it selects.

The placement is the seed document's example 4 verbatim (Spread over ``region: us-west``, compute required)
plus a ``workloadSelector`` for ``app: web``, so it decides for this one Deployment and nothing a user adds
later by accident. A unit test holds it equal to the seed's text. kwok runs the pods, so the Deployment
really rolls out on the chosen clusters and the tenant's object shows the summed status.
"""

from __future__ import annotations

from typing import Any

from tmc.api.workload_binding import binding_name

JSON = dict[str, Any]

NAMESPACE = "default"
APP = "web"
PLACEMENT_NAME = "web-app-placement"
BINDING_NAME = binding_name("Deployment", APP)


def example_placement() -> JSON:
    return {
        "apiVersion": "tmc.kcp.io/v1alpha1",
        "kind": "WorkloadPlacement",
        "metadata": {"name": PLACEMENT_NAME, "namespace": NAMESPACE},
        "spec": {
            # The seed's example 4 ...
            "strategy": "Spread",
            "locationSelector": {"matchLabels": {"region": "us-west"}},
            "capabilityRequirements": [{"type": "compute", "required": True}],
            # ... deciding for the example's Deployment only.
            "workloadSelector": {
                "resources": [{"apiVersion": "apps/v1", "kind": "Deployment"}],
                "labelSelector": {"matchLabels": {"app": APP}},
            },
        },
    }


def example_deployment(replicas: int) -> JSON:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": APP, "namespace": NAMESPACE, "labels": {"app": APP}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": APP}},
            "template": {
                "metadata": {"labels": {"app": APP}},
                "spec": {"containers": [{"name": APP, "image": "nginx:1.27", "ports": [{"containerPort": 80}]}]},
            },
        },
    }


def rolled_out(binding: JSON) -> bool:
    """Every chosen cluster has applied the binding's current spec and reports all its replicas ready."""
    wanted = {c["name"]: c.get("replicas") for c in (binding.get("spec") or {}).get("clusters") or []}
    status = binding.get("status") or {}
    if not wanted or status.get("observedGeneration") != binding.get("metadata", {}).get("generation"):
        return False
    copies = {c["name"]: c for c in status.get("clusters") or []}
    return all(
        name in copies
        and copies[name].get("applied") is True
        and (replicas is None or copies[name].get("readyReplicas") == replicas)
        for name, replicas in wanted.items()
    )


def reports_rolled_out(deployment: JSON) -> bool:
    """The tenant's own Deployment says what the copies say: its current generation observed, all replicas ready.

    Its status is written by the same sync as the binding's, as a separate write: one may land a moment later.
    """
    status = deployment.get("status") or {}
    wanted = (deployment.get("spec") or {}).get("replicas", 1)
    return bool(
        status.get("observedGeneration") == deployment.get("metadata", {}).get("generation")
        and status.get("readyReplicas", 0) == wanted
    )
