"""Which workloads a placement selects: one rule for the controller (from its caches) and `tmc explain` (from lists).

A workload is selected when it lives in the placement's own namespace, is not being deleted, matches one of
``spec.workloadSelector.resources`` (kind, and the name when the entry names one) and the label selector.
Each selected object is stamped with its ``apiVersion`` and ``kind`` (list items and cached objects carry none
the engine can rely on); the result is sorted and has no duplicates, so decisions do not depend on cache order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from tmc.controllers.workloadplacement.convert import selector, workload_key
from tmc.placement import compile_selector

JSON = dict[str, Any]
DEFAULT_RESOURCES = ({"apiVersion": "apps/v1", "kind": "Deployment"},)


@dataclass(frozen=True, slots=True)
class WorkloadRef:
    """One entry of ``spec.workloadSelector.resources``."""

    api_version: str
    kind: str
    name: str | None

    @property
    def kind_key(self) -> str:
        """How the kinds TMC places are keyed: ``<apiVersion>/<kind>``."""
        return f"{self.api_version}/{self.kind}"


def workload_refs(placement: JSON) -> list[WorkloadRef]:
    workload_selector = (placement.get("spec") or {}).get("workloadSelector") or {}
    return [
        WorkloadRef(ref.get("apiVersion", "apps/v1"), ref.get("kind", "Deployment"), ref.get("name"))
        for ref in workload_selector.get("resources") or DEFAULT_RESOURCES
    ]


def select_workloads(placement: JSON, objects_of: Callable[[str], Iterable[JSON]]) -> list[JSON]:
    """The workloads ``placement`` selects among ``objects_of(kind_key)``: the objects of that kind in the
    placement's workspace (any namespace; nothing for a kind TMC does not place)."""
    namespace = placement["metadata"].get("namespace", "")
    workload_selector = (placement.get("spec") or {}).get("workloadSelector") or {}
    labels = compile_selector(selector(workload_selector.get("labelSelector")), "spec.workloadSelector.labelSelector")
    chosen: dict[str, JSON] = {}
    for ref in workload_refs(placement):
        for workload in objects_of(ref.kind_key):
            metadata = workload["metadata"]
            if metadata.get("namespace") != namespace or metadata.get("deletionTimestamp"):
                continue
            if ref.name in (None, metadata["name"]) and labels.matches(metadata.get("labels") or {}):
                stamped = {**workload, "apiVersion": ref.api_version, "kind": ref.kind}
                chosen[workload_key(stamped)] = stamped
    return [chosen[key] for key in sorted(chosen)]
