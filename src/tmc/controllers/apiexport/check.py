"""Pure validation of one TMC APIExport against what the code defines.

Returns findings, each with a code, a message that names what to change, and whether the controller can
repair it itself (recreate a deleted schema, point the export back at the right schemas) or only report it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tmc.install.desired import ExportPlan, claim_set, expected_schema_names, export_body


@dataclass(frozen=True, slots=True)
class Finding:
    code: str
    message: str
    repair: str | None = None  # "create-schema:<name>" or "apply-export"; None = report only


def check_export(
    export: dict[str, Any],
    existing_schemas: dict[str, dict[str, Any]],
    plan: ExportPlan,
    identity_hashes: dict[str, str],
    virtual_workspace_urls: list[str],
) -> list[Finding]:
    findings: list[Finding] = []
    expected = expected_schema_names(plan)
    # The group the plan defines, not one parsed from the name: the core group is "" but its names end ".core".
    groups = {schema["metadata"]["name"]: schema["spec"]["group"] for schema in plan.schemas}
    referenced = {
        f"{item.get('name', '')}.{item.get('group', '')}": str(item.get("schema", ""))
        for item in export.get("spec", {}).get("resources", [])
    }
    wanted_list = ", ".join(sorted(expected.values()))
    for resource, schema_name in sorted(referenced.items()):
        if schema_name not in expected.values():
            findings.append(
                Finding(
                    "UnexpectedSchema",
                    f"resource {resource} references schema {schema_name!r}, which TMC does not define; "
                    f"the export must reference: {wanted_list}",
                    "apply-export",
                )
            )
    for resource, schema_name in sorted(expected.items()):
        if referenced.get(resource) != schema_name and resource not in referenced:
            findings.append(
                Finding(
                    "MissingResource",
                    f"resource {resource} is not exported; expected schema {schema_name}",
                    "apply-export",
                )
            )
        if schema_name not in existing_schemas:
            findings.append(
                Finding(
                    "SchemaMissing",
                    f"APIResourceSchema {schema_name} does not exist",
                    f"create-schema:{schema_name}",
                )
            )
        elif existing_schemas[schema_name].get("spec", {}).get("group") != groups[schema_name]:
            findings.append(
                Finding(
                    "SchemaMismatch",
                    f"APIResourceSchema {schema_name} serves the wrong group; delete it to let TMC recreate it",
                )
            )
    try:
        desired_claims = export_body(plan, identity_hashes)["spec"].get("permissionClaims", [])
    except KeyError:
        desired_claims = None  # identity of the workloads export not known yet
    if desired_claims is not None and claim_set(export.get("spec", {}).get("permissionClaims", [])) != claim_set(
        desired_claims
    ):
        findings.append(
            Finding("PermissionClaimsDrift", "permission claims differ from TMC's definition", "apply-export")
        )
    if not export.get("status", {}).get("identityHash"):
        findings.append(Finding("IdentityPending", "kcp has not assigned an identity to the export yet"))
    if not virtual_workspace_urls:
        findings.append(Finding("VirtualWorkspacePending", "no virtual workspace URL is published for the export yet"))
    return findings
