"""Validation and compilation of a :class:`~tmc.placement.types.PlacementPolicy`.

Compilation happens once, when the policy is constructed; every error carries
the camelCase field path of the user-facing Placement (``spec.<field>``).
The compiled form holds validated selectors and the few derived numbers the
engine needs on every decision.
"""

from __future__ import annotations

from dataclasses import dataclass

from tmc.placement.errors import PlacementValidationError
from tmc.placement.selectors import CompiledSelector, compile_selector
from tmc.placement.types import (
    LabelSelector,
    PlacementPolicy,
    Strategy,
    TaintEffect,
    Toleration,
    TolerationOperator,
    Weighting,
)

MAX_PREFERRED_WEIGHT = 100


@dataclass(frozen=True, slots=True)
class CompiledPolicy:
    location_groups: tuple[CompiledSelector, ...]
    """Index 0 is ``spec.locationSelector``; index ``i > 0`` is ``spec.fallbackGroups[i-1]``."""
    required_capabilities: frozenset[str]
    optional_capabilities: tuple[str, ...]
    required_terms: tuple[CompiledSelector, ...]
    preferred_terms: tuple[tuple[int, CompiledSelector], ...]
    workload_affinity: CompiledSelector | None
    workload_anti_affinity: CompiledSelector | None
    static_weights: tuple[tuple[CompiledSelector | str, int], ...]
    min_clusters: int
    max_clusters: int | None
    topology_key: str | None
    """Only set for the Spread strategy."""
    max_skew: int
    tolerations: tuple[Toleration, ...]

    def group_label(self, group: int) -> str:
        return "spec.locationSelector" if group == 0 else f"spec.fallbackGroups[{group - 1}]"


def _optional(selector: LabelSelector | None, path: str) -> CompiledSelector | None:
    if selector is None:
        return None
    return compile_selector(selector, path)


def _validate_toleration(toleration: Toleration, path: str) -> None:
    if toleration.operator is TolerationOperator.EXISTS and toleration.value:
        raise PlacementValidationError(f"{path}.value", "must be empty when operator is Exists")
    if toleration.operator is TolerationOperator.EQUAL and not toleration.key:
        raise PlacementValidationError(f"{path}.key", "must be set when operator is Equal")
    if toleration.toleration_seconds is not None:
        if toleration.toleration_seconds < 0:
            raise PlacementValidationError(f"{path}.tolerationSeconds", "must be >= 0")
        if toleration.effect not in (None, TaintEffect.NO_EXECUTE):
            raise PlacementValidationError(
                f"{path}.tolerationSeconds", "only applies to effect NoExecute (or an unset effect)"
            )


def compile_policy(policy: PlacementPolicy) -> CompiledPolicy:
    groups = [compile_selector(policy.location_selector, "spec.locationSelector")]
    groups += [compile_selector(g, f"spec.fallbackGroups[{i}]") for i, g in enumerate(policy.fallback_groups)]

    required: set[str] = set()
    optional: set[str] = set()
    for i, requirement in enumerate(policy.capability_requirements):
        if not requirement.type:
            raise PlacementValidationError(f"spec.capabilityRequirements[{i}].type", "must not be empty")
        (required if requirement.required else optional).add(requirement.type)

    counts = policy.number_of_clusters
    if counts.min < 1:
        raise PlacementValidationError("spec.numberOfClusters.min", f"must be >= 1, got {counts.min}")
    if counts.max is not None and counts.max < counts.min:
        raise PlacementValidationError("spec.numberOfClusters.max", f"must be >= min ({counts.min}), got {counts.max}")

    affinity = policy.affinity
    required_terms = tuple(
        compile_selector(term, f"spec.affinity.required[{i}]") for i, term in enumerate(affinity.required)
    )
    preferred_terms = []
    for i, term in enumerate(affinity.preferred):
        if not 1 <= term.weight <= MAX_PREFERRED_WEIGHT:
            raise PlacementValidationError(
                f"spec.affinity.preferred[{i}].weight",
                f"must be in 1..{MAX_PREFERRED_WEIGHT}, got {term.weight}",
            )
        preferred_terms.append((term.weight, compile_selector(term.selector, f"spec.affinity.preferred[{i}].selector")))

    spread = policy.spread
    if spread.max_skew < 1:
        raise PlacementValidationError("spec.spread.maxSkew", f"must be >= 1, got {spread.max_skew}")
    if spread.topology_key == "":
        raise PlacementValidationError("spec.spread.topologyKey", "must not be empty (omit it to spread per cluster)")

    for i, toleration in enumerate(policy.tolerations):
        _validate_toleration(toleration, f"spec.tolerations[{i}]")

    division = policy.replica_division
    static: list[tuple[CompiledSelector | str, int]] = []
    for i, rule in enumerate(division.static_weights):
        path = f"spec.replicaDivision.staticWeights[{i}]"
        if rule.weight < 0:
            raise PlacementValidationError(f"{path}.weight", f"must be >= 0, got {rule.weight}")
        if isinstance(rule.target, str):
            if not rule.target:
                raise PlacementValidationError(f"{path}.target", "cluster name must not be empty")
            static.append((rule.target, rule.weight))
        else:
            static.append((compile_selector(rule.target, f"{path}.target"), rule.weight))
    if division.weighting is Weighting.STATIC and not static:
        raise PlacementValidationError("spec.replicaDivision.staticWeights", "required when weighting is Static")

    return CompiledPolicy(
        location_groups=tuple(groups),
        required_capabilities=frozenset(required),
        optional_capabilities=tuple(sorted(optional - required)),
        required_terms=required_terms,
        preferred_terms=tuple(preferred_terms),
        workload_affinity=_optional(affinity.workload_affinity, "spec.affinity.workloadAffinity"),
        workload_anti_affinity=_optional(affinity.workload_anti_affinity, "spec.affinity.workloadAntiAffinity"),
        static_weights=tuple(static),
        min_clusters=counts.min,
        max_clusters=counts.max,
        topology_key=spread.topology_key if policy.strategy is Strategy.SPREAD else None,
        max_skew=spread.max_skew,
        tolerations=policy.tolerations,
    )
