"""``tmc bind <workspace>``: onboard a tenant workspace onto TMC.

Creates one APIBinding per export (``kubernetes`` first, since TMC's claims on the workload kinds name
that export's identity), accepts exactly the permission claims the export asks for, with the export's
verbs (kcp allows the intersection of the two and flags a binding whose verbs differ; the claims and
their reasons are in :mod:`tmc.api.claims`), waits until each binding is Bound and every kind is served
in the workspace. Idempotent: existing bindings are updated to accept the claims.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tmc.api import registry
from tmc.errors import ApiError, NotFoundError
from tmc.install.desired import TMC_WORKSPACE
from tmc.kcp.paths import LogicalClusterPath
from tmc.kcp.resources import API_BINDINGS, API_EXPORTS, Resource, resource_of
from tmc.kcp.rest import KubeClient
from tmc.kcp.watching import wait_for_object

FIELD_MANAGER = "tmc-bind"
BINDING_NAMES = {registry.WORKLOADS_EXPORT_NAME: "kubernetes", registry.EXPORT_NAME: "tmc"}


def binding_body(export: dict[str, Any], binding_name: str) -> dict[str, Any]:
    claims = [
        {
            "group": claim.get("group", ""),
            "resource": claim["resource"],
            "verbs": claim.get("verbs", []),
            **({"identityHash": claim["identityHash"]} if claim.get("identityHash") else {}),
            "selector": {"matchAll": True},
            "state": "Accepted",
        }
        for claim in export.get("spec", {}).get("permissionClaims", [])
    ]
    return {
        "apiVersion": API_BINDINGS.api_version,
        "kind": "APIBinding",
        "metadata": {"name": binding_name},
        "spec": {
            "reference": {"export": {"path": str(TMC_WORKSPACE), "name": export["metadata"]["name"]}},
            "permissionClaims": claims,
        },
    }


def _bound(binding: dict[str, Any]) -> bool:
    return bool(binding.get("status", {}).get("phase") == "Bound")


async def bind(client: KubeClient, workspace: LogicalClusterPath, *, timeout: float = 60.0) -> list[str]:
    """Returns the names of the bindings now Bound in ``workspace``."""
    bound: list[str] = []
    for export_name in (registry.WORKLOADS_EXPORT_NAME, registry.EXPORT_NAME):
        try:
            export = await client.get(API_EXPORTS, export_name, cluster=TMC_WORKSPACE)
        except NotFoundError:
            raise NotFoundError(
                404,
                "NotFound",
                f"APIExport {export_name} not found in {TMC_WORKSPACE}: run `tmc install` first",
            ) from None
        binding_name = BINDING_NAMES[export_name]
        await client.apply(
            API_BINDINGS, binding_body(export, binding_name), field_manager=FIELD_MANAGER, cluster=workspace
        )
        await wait_for_object(client, API_BINDINGS, binding_name, _bound, cluster=workspace, timeout=timeout)
        bound.append(binding_name)
    await _wait_served(client, workspace, timeout)
    return bound


async def _wait_served(client: KubeClient, workspace: LogicalClusterPath, timeout: float) -> None:
    """Bound precedes serving by a moment; wait on the resources themselves through a watch-backed get."""
    for resource in (*registry.WORKLOAD_RESOURCES, *registry.TMC_RESOURCES):
        await wait_for_served(client, workspace, resource_of(resource), timeout)


async def wait_for_served(
    client: KubeClient, workspace: LogicalClusterPath, resource: Resource, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            await client.list(resource, cluster=workspace, params={"limit": 1})
            return
        except ApiError:
            if time.monotonic() > deadline:
                raise
            # No watch exists for "a resource became served"; discovery caches refresh within a second.
            await asyncio.sleep(0.2)
