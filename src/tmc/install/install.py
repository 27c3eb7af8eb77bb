"""``tmc install``: make ``root:tmc`` hold TMC's schemas and exports, idempotently.

Schemas are immutable in kcp, and their names carry a hash of their content, so an upgrade creates new
schemas next to the old ones and then points the exports at them; tenants' data stays in place because
the resources (group + plural) do not change. Old schemas are left for an operator to prune.
A second run with nothing changed performs no writes and reports every object as ``unchanged``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tmc.errors import ConflictError, NotFoundError
from tmc.install.desired import TMC_WORKSPACE, ExportPlan, export_body, export_matches, export_plans
from tmc.kcp.resources import API_EXPORTS, API_RESOURCE_SCHEMAS
from tmc.kcp.rest import KubeClient
from tmc.kcp.watching import wait_for_object
from tmc.kcp.workspaces import ensure_workspace

FIELD_MANAGER = "tmc-install"


@dataclass
class InstallReport:
    changes: list[tuple[str, str]] = field(default_factory=list)  # (object, created|updated|unchanged)

    def record(self, what: str, outcome: str) -> None:
        self.changes.append((what, outcome))

    @property
    def changed(self) -> bool:
        return any(outcome != "unchanged" for _, outcome in self.changes)


async def install(client: KubeClient, *, timeout: float = 60.0) -> InstallReport:
    report = InstallReport()
    await ensure_workspace(client, TMC_WORKSPACE, timeout=timeout)
    identity_hashes: dict[str, str] = {}
    for plan in export_plans():
        for schema in plan.schemas:
            outcome = await _ensure_schema(client, schema)
            report.record(f"APIResourceSchema {schema['metadata']['name']}", outcome)
        outcome, export = await _ensure_export(client, plan, identity_hashes)
        report.record(f"APIExport {plan.name}", outcome)
        identity_hashes[plan.name] = await _identity_hash(client, plan.name, export, timeout)
    return report


async def ensure_schema(client: KubeClient, schema: dict[str, Any]) -> str:
    return await _ensure_schema(client, schema)


async def _ensure_schema(client: KubeClient, schema: dict[str, Any]) -> str:
    name = schema["metadata"]["name"]
    try:
        current = await client.get(API_RESOURCE_SCHEMAS, name, cluster=TMC_WORKSPACE)
    except NotFoundError:
        await client.create(API_RESOURCE_SCHEMAS, schema, cluster=TMC_WORKSPACE)
        return "created"
    if current.get("spec", {}).get("group") != schema["spec"]["group"]:
        # Same content-hash name, different group: someone created it by hand; never overwrite theirs.
        raise ConflictError(409, "Conflict", f"APIResourceSchema {name} exists with a different group")
    return "unchanged"


async def _ensure_export(
    client: KubeClient, plan: ExportPlan, identity_hashes: dict[str, str]
) -> tuple[str, dict[str, Any]]:
    desired = export_body(plan, identity_hashes)
    try:
        current = await client.get(API_EXPORTS, plan.name, cluster=TMC_WORKSPACE)
    except NotFoundError:
        created = await client.create(API_EXPORTS, desired, cluster=TMC_WORKSPACE)
        return "created", created
    if export_matches(current, desired):
        return "unchanged", current
    applied = await client.apply(API_EXPORTS, desired, field_manager=FIELD_MANAGER, cluster=TMC_WORKSPACE)
    return "updated", applied


async def _identity_hash(client: KubeClient, name: str, export: dict[str, Any], timeout: float) -> str:
    identity = export.get("status", {}).get("identityHash")
    if identity:
        return str(identity)
    ready = await wait_for_object(
        client,
        API_EXPORTS,
        name,
        lambda obj: bool(obj.get("status", {}).get("identityHash")),
        cluster=TMC_WORKSPACE,
        timeout=timeout,
    )
    return str(ready["status"]["identityHash"])
