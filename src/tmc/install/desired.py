"""What ``root:tmc`` must contain, computed from the API models: schemas and the two APIExports.

This is the one definition used by ``tmc install`` and by the APIExport controller when it repairs drift.
The ``kubernetes`` export serves the workload kinds (schemas generated from a kube-apiserver, see
:mod:`tmc.api.workloads`); the ``tmc.kcp.io`` export serves TMC's kinds and carries the permission claims
of :mod:`tmc.api.claims`, those on workload kinds naming the ``kubernetes`` export's identity hash.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tmc.api import registry
from tmc.api.claims import TMC_PERMISSION_CLAIMS as TMC_PERMISSION_CLAIMS
from tmc.api.claims import ClaimSpec as ClaimSpec
from tmc.kcp.paths import ROOT, LogicalClusterPath

TMC_WORKSPACE = ROOT.join("tmc")
API_EXPORT_VERSION = "apis.kcp.io/v1alpha2"


@dataclass(frozen=True, slots=True)
class ExportPlan:
    name: str
    schemas: tuple[dict[str, Any], ...]
    claims: tuple[ClaimSpec, ...]


def export_plans() -> tuple[ExportPlan, ExportPlan]:
    """The workloads export first: the TMC export's claims need its identity hash."""
    workloads = ExportPlan(
        registry.WORKLOADS_EXPORT_NAME,
        tuple(resource.api_resource_schema() for resource in registry.WORKLOAD_RESOURCES),
        (),
    )
    tmc = ExportPlan(
        registry.EXPORT_NAME,
        tuple(resource.api_resource_schema() for resource in registry.TMC_RESOURCES),
        TMC_PERMISSION_CLAIMS,
    )
    return workloads, tmc


def export_body(plan: ExportPlan, identity_hashes: dict[str, str]) -> dict[str, Any]:
    resources = [
        {
            "name": schema["spec"]["names"]["plural"],
            "group": schema["spec"]["group"],
            "schema": schema["metadata"]["name"],
            "storage": {"crd": {}},
        }
        for schema in plan.schemas
    ]
    claims = []
    for claim in plan.claims:
        entry: dict[str, Any] = {"group": claim.group, "resource": claim.resource, "verbs": list(claim.verbs)}
        if claim.identity_of_export:
            entry["identityHash"] = identity_hashes[claim.identity_of_export]
        claims.append(entry)
    spec: dict[str, Any] = {"resources": resources}
    if claims:
        spec["permissionClaims"] = claims
    return {
        "apiVersion": API_EXPORT_VERSION,
        "kind": "APIExport",
        "metadata": {"name": plan.name, "labels": {"app.kubernetes.io/managed-by": "tmc"}},
        "spec": spec,
    }


def expected_schema_names(plan: ExportPlan) -> dict[str, str]:
    """plural.group -> the schema name the export must reference."""
    return {
        f"{schema['spec']['names']['plural']}.{schema['spec']['group']}": schema["metadata"]["name"]
        for schema in plan.schemas
    }


def workspace() -> LogicalClusterPath:
    return TMC_WORKSPACE


def claim_set(claims: list[dict[str, Any]]) -> set[tuple[str, str, frozenset[str], str]]:
    """Permission claims compared by meaning: order of claims and of verbs does not matter."""
    return {
        (c.get("group", ""), c.get("resource", ""), frozenset(c.get("verbs", [])), c.get("identityHash", ""))
        for c in claims
    }


def resource_set(resources: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {(item.get("group", ""), item.get("name", ""), item.get("schema", "")) for item in resources}


def export_matches(current: dict[str, Any], desired: dict[str, Any]) -> bool:
    spec, want = current.get("spec", {}), desired["spec"]
    return resource_set(spec.get("resources", [])) == resource_set(want["resources"]) and claim_set(
        spec.get("permissionClaims", [])
    ) == claim_set(want.get("permissionClaims", []))
