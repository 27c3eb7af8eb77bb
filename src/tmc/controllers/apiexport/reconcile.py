"""Keeps TMC's APIExports in ``root:tmc`` valid: level-triggered, idempotent, repairs what it can.

Sub-steps, in order: (1) recreate a missing export; (2) recreate deleted schemas from the code's
definitions; (3) point the export back at the schemas TMC defines when it was edited (for example with the
seed's example 1, whose schema names kcp cannot resolve); (4) record Events in root:tmc naming what was repaired
and whatever is still wrong (kcp keeps the export's status to itself), which ``tmc status`` shows.
A problem the controller cannot fix is reported, not retried: retrying would not change the outcome.
kcp keeps the export's status to itself, so this controller writes no status; every write it does make first
passes the leadership fence of the process's ``StatusWriter`` (``guard``), like every status write does.
"""

from __future__ import annotations

from tmc.controllers.apiexport.check import Finding, check_export
from tmc.install.desired import TMC_WORKSPACE, ExportPlan, export_body, export_plans
from tmc.install.install import ensure_schema
from tmc.kcp.events import record_event
from tmc.kcp.resources import API_EXPORTS
from tmc.kcp.rest import JSON, KubeClient
from tmc.kcp.virtual_workspace import endpoint_urls
from tmc.runtime import Informer, ObjectKey, Result, StatusWriter, get_logger

FIELD_MANAGER = "tmc-apiexport-controller"
log = get_logger(__name__)


class APIExportReconciler:
    def __init__(
        self,
        client: KubeClient,
        exports: Informer,
        schemas: Informer,
        endpoint_slices: Informer,
        *,
        writer: StatusWriter | None = None,
    ) -> None:
        self.client = client
        self.exports = exports
        self.schemas = schemas
        self.endpoint_slices = endpoint_slices
        self.writer = writer
        self.plans: dict[str, ExportPlan] = {plan.name: plan for plan in export_plans()}

    def _guard(self, what: str) -> None:
        if self.writer is not None:
            self.writer.guard(API_EXPORTS, what)

    def _cached(self, informer: Informer, name: str) -> JSON | None:
        for obj in informer.list():
            if obj["metadata"]["name"] == name:
                return obj
        return None

    def _identity_hashes(self) -> dict[str, str]:
        hashes = {}
        for name in self.plans:
            export = self._cached(self.exports, name)
            identity = (export or {}).get("status", {}).get("identityHash")
            if identity:
                hashes[name] = str(identity)
        return hashes

    async def reconcile(self, key: ObjectKey) -> Result:
        plan = self.plans.get(key.name)
        if plan is None:
            return Result()  # not one of TMC's exports
        export = self._cached(self.exports, plan.name)
        if export is None:
            log.info("APIExport %s is missing; recreating it", plan.name)
            await self._apply_export(plan)
            return Result()
        existing = {obj["metadata"]["name"]: obj for obj in self.schemas.list()}
        endpoint_slice = self._cached(self.endpoint_slices, plan.name) or {}
        findings = check_export(export, existing, plan, self._identity_hashes(), endpoint_urls(endpoint_slice))
        repaired: list[Finding] = []
        for finding in findings:
            if finding.repair and finding.repair.startswith("create-schema:"):
                schema_name = finding.repair.split(":", 1)[1]
                schema = next(s for s in plan.schemas if s["metadata"]["name"] == schema_name)
                self._guard(f"recreate APIResourceSchema {schema_name}")
                await ensure_schema(self.client, schema)
                repaired.append(finding)
        if any(finding.repair == "apply-export" for finding in findings):
            await self._apply_export(plan, export)
            repaired.extend(finding for finding in findings if finding.repair == "apply-export")
        await self._report(export, findings, repaired)
        return Result()

    async def _apply_export(self, plan: ExportPlan, current: JSON | None = None) -> None:
        self._guard(f"write APIExport {plan.name}")
        hashes = self._identity_hashes()
        try:
            body = export_body(plan, hashes)
        except KeyError:
            body = export_body(ExportPlan(plan.name, plan.schemas, ()), hashes)  # claims follow once identity exists
        if current is None:
            await self.client.apply(API_EXPORTS, body, field_manager=FIELD_MANAGER, cluster=TMC_WORKSPACE)
            return
        # Replace, not apply: entries another manager added (e.g. the seed's schema names) must go, and
        # server-side apply would keep fields it does not own. resourceVersion guards against lost updates.
        replacement = {**current, "spec": {**current.get("spec", {}), **body["spec"]}}
        if "permissionClaims" not in body["spec"]:
            replacement["spec"].pop("permissionClaims", None)
        await self.client.replace(API_EXPORTS, replacement, cluster=TMC_WORKSPACE)

    async def _report(self, export: JSON, findings: list[Finding], repaired: list[Finding]) -> None:
        """Events in root:tmc, since kcp reserves the APIExport's status for itself (even for admins)."""
        name = export["metadata"]["name"]
        if repaired or findings:
            self._guard(f"record events about APIExport {name}")
        if repaired:
            message = "repaired: " + "; ".join(f.message for f in repaired)
            log.warning("APIExport %s %s", name, message)
            await record_event(
                self.client,
                TMC_WORKSPACE,
                {**export, "apiVersion": API_EXPORTS.api_version, "kind": "APIExport"},
                event_type="Warning",
                reason="Repaired",
                message=message,
            )
        outstanding = [finding for finding in findings if finding not in repaired]
        for finding in outstanding:
            log.info("APIExport %s: %s: %s", name, finding.code, finding.message)
            await record_event(
                self.client,
                TMC_WORKSPACE,
                {**export, "apiVersion": API_EXPORTS.api_version, "kind": "APIExport"},
                event_type="Warning" if finding.code not in PENDING else "Normal",
                reason=finding.code,
                message=finding.message,
            )


PENDING = frozenset({"IdentityPending", "VirtualWorkspacePending"})
