"""Keeps TMC's APIExports in ``root:tmc`` valid: level-triggered, idempotent, repairs what it can.

Sub-steps, in order: (1) recreate a missing export; (2) recreate deleted schemas from the code's
definitions; (3) point the export back at the schemas TMC defines when it was edited (for example with the
seed's example 1, whose schema names kcp cannot resolve); (4) publish a ``TMCExportValid`` condition on the
export's status naming whatever is still wrong, which ``tmc status`` shows.
A problem the controller cannot fix is reported, not retried: retrying would not change the outcome.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from tmc.api.conditions import set_condition
from tmc.api.meta import Condition
from tmc.controllers.apiexport.check import Finding, check_export
from tmc.errors import ConflictError, NotFoundError
from tmc.install.desired import TMC_WORKSPACE, ExportPlan, export_body, export_plans
from tmc.install.install import ensure_schema
from tmc.kcp.resources import API_EXPORTS
from tmc.kcp.rest import JSON, KubeClient
from tmc.kcp.virtual_workspace import endpoint_urls
from tmc.runtime import Informer, ObjectKey, Result, get_logger

FIELD_MANAGER = "tmc-apiexport-controller"
CONDITION = "TMCExportValid"
log = get_logger(__name__)


class APIExportReconciler:
    def __init__(
        self,
        client: KubeClient,
        exports: Informer,
        schemas: Informer,
        endpoint_slices: Informer,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.exports = exports
        self.schemas = schemas
        self.endpoint_slices = endpoint_slices
        self.plans: dict[str, ExportPlan] = {plan.name: plan for plan in export_plans()}
        self.clock = clock

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
                await ensure_schema(self.client, schema)
                repaired.append(finding)
        if any(finding.repair == "apply-export" for finding in findings):
            await self._apply_export(plan)
            repaired.extend(finding for finding in findings if finding.repair == "apply-export")
        await self._report(export, findings, repaired)
        return Result()

    async def _apply_export(self, plan: ExportPlan) -> None:
        hashes = self._identity_hashes()
        try:
            body = export_body(plan, hashes)
        except KeyError:
            body = export_body(ExportPlan(plan.name, plan.schemas, ()), hashes)  # claims follow once identity exists
        await self.client.apply(API_EXPORTS, body, field_manager=FIELD_MANAGER, cluster=TMC_WORKSPACE)

    async def _report(self, export: JSON, findings: list[Finding], repaired: list[Finding]) -> None:
        outstanding = [finding for finding in findings if finding not in repaired]
        if repaired:
            status, reason = "False", "Repaired"
            message = "repaired: " + "; ".join(f.message for f in repaired)
        elif outstanding:
            status, reason = "False", outstanding[0].code
            message = "; ".join(f.message for f in outstanding)
        else:
            status, reason, message = (
                "True",
                "Valid",
                "schemas, claims, identity and virtual workspace are as TMC defines",
            )
        # kcp owns the export's other conditions (with fields of its own, e.g. severity): keep them verbatim.
        all_conditions: list[dict[str, Any]] = list(export.get("status", {}).get("conditions", []))
        ours = [Condition.model_validate(c) for c in all_conditions if c.get("type") == CONDITION]
        changed = set_condition(
            ours,
            CONDITION,
            status,  # type: ignore[arg-type]
            reason,
            message,
            observed_generation=export["metadata"].get("generation"),
            now=datetime.fromtimestamp(self.clock(), UTC).replace(microsecond=0),
        )
        if not changed:
            return
        conditions = [c for c in all_conditions if c.get("type") != CONDITION] + [c.to_dict() for c in ours]
        if repaired:
            log.warning("APIExport %s: %s", export["metadata"]["name"], message)
        # On conflict or deletion a newer version is on its way through the informer and is reconciled again.
        with contextlib.suppress(ConflictError, NotFoundError):
            await self.client.merge_patch(
                API_EXPORTS,
                export["metadata"]["name"],
                {
                    "metadata": {"resourceVersion": export["metadata"]["resourceVersion"]},
                    "status": {"conditions": conditions},
                },
                cluster=TMC_WORKSPACE,
                subresource="status",
            )
