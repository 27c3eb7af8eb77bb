"""Where a tenant's namespace lives on a physical cluster, and how TMC marks what it owns there.

Each (registration, logical cluster, namespace) maps to one namespace ``tmc-<hash>``: deterministic (a restart
finds the same one), DNS-safe, and unguessable across tenants. The namespace carries a locator annotation with
its origin; a namespace whose locator names someone else is never written to, read from or deleted (two tenants
can never share one, even if a hash collided or someone created it by hand).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

MANAGED_LABEL = "tmc.kcp.io/managed"
LOCATOR_ANNOTATION = "tmc.kcp.io/locator"
ORIGIN_CLUSTER = "tmc.kcp.io/origin-cluster"
ORIGIN_NAMESPACE = "tmc.kcp.io/origin-namespace"
ORIGIN_NAME = "tmc.kcp.io/origin-name"
ORIGIN_KIND = "tmc.kcp.io/origin-kind"
ORIGIN_UID = "tmc.kcp.io/origin-uid"
SOURCE_GENERATION = "tmc.kcp.io/source-generation"
FIELD_MANAGER = "tmc-syncer"
ORIGIN_ANNOTATIONS = (ORIGIN_CLUSTER, ORIGIN_NAMESPACE, ORIGIN_NAME, ORIGIN_KIND, ORIGIN_UID, SOURCE_GENERATION)


@dataclass(frozen=True, slots=True)
class Locator:
    """The origin of a physical namespace: which tenant namespace, placed through which registration."""

    logical_cluster: str
    namespace: str
    registration: str

    def to_json(self) -> str:
        return json.dumps(
            {"logicalCluster": self.logical_cluster, "namespace": self.namespace, "registration": self.registration},
            sort_keys=True,
            separators=(",", ":"),
        )

    @property
    def physical_namespace(self) -> str:
        digest = hashlib.sha256(self.to_json().encode()).hexdigest()
        return f"tmc-{digest[:20]}"

    def namespace_manifest(self) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": self.physical_namespace,
                "labels": {MANAGED_LABEL: "true"},
                "annotations": {LOCATOR_ANNOTATION: self.to_json()},
            },
        }

    def owns(self, namespace: dict[str, Any]) -> bool:
        annotations = namespace.get("metadata", {}).get("annotations") or {}
        raw = annotations.get(LOCATOR_ANNOTATION)
        if not raw:
            return False
        try:
            return bool(json.loads(raw) == json.loads(self.to_json()))
        except ValueError:
            return False


def is_managed(obj: dict[str, Any]) -> bool:
    return (obj.get("metadata", {}).get("labels") or {}).get(MANAGED_LABEL) == "true"


def origin_of(obj: dict[str, Any]) -> tuple[str, str, str, str]:
    """(logical cluster, namespace, kind, name) a copy says it came from."""
    annotations = obj.get("metadata", {}).get("annotations") or {}
    return (
        annotations.get(ORIGIN_CLUSTER, ""),
        annotations.get(ORIGIN_NAMESPACE, ""),
        annotations.get(ORIGIN_KIND, ""),
        annotations.get(ORIGIN_NAME, ""),
    )
