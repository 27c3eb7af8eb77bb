"""Creating kcp workspaces and waiting until they are Ready."""

from __future__ import annotations

import contextlib

from tmc.errors import ConflictError
from tmc.kcp.paths import LogicalClusterPath
from tmc.kcp.resources import WORKSPACES
from tmc.kcp.rest import JSON, KubeClient
from tmc.kcp.watching import wait_for_object


def _is_ready(workspace: JSON) -> bool:
    return bool(workspace.get("status", {}).get("phase") == "Ready")


async def ensure_workspace(
    client: KubeClient, path: LogicalClusterPath, *, workspace_type: str | None = None, timeout: float = 60.0
) -> JSON:
    """Create ``path`` under its parent unless it exists; return it once Ready (idempotent)."""
    parent = path.parent
    if parent is None:
        raise ValueError(f"workspace path {path} has no parent; only root has none and it always exists")
    body: JSON = {
        "apiVersion": WORKSPACES.api_version,
        "kind": WORKSPACES.kind,
        "metadata": {"name": path.base_name},
        "spec": {},
    }
    if workspace_type:
        body["spec"]["type"] = {"name": workspace_type, "path": "root"}
    with contextlib.suppress(ConflictError):
        await client.create(WORKSPACES, body, cluster=parent)
    return await wait_for_object(client, WORKSPACES, path.base_name, _is_ready, cluster=parent, timeout=timeout)


def logical_cluster_name(workspace: JSON) -> str:
    """The logical cluster behind a workspace (what ``kcp.io/cluster`` annotations carry)."""
    spec = workspace.get("spec", {})
    name = spec.get("cluster") or workspace.get("metadata", {}).get("annotations", {}).get(
        "internal.tenancy.kcp.io/cluster", ""
    )
    return str(name)
