"""Pure placement engine: which physical clusters a workload of a Placement runs on.

No I/O, no clock, no randomness: clusters, policy, workload, previous decision
and time all come in as immutable values (:mod:`tmc.placement.types`), and the
same inputs always give the same :class:`PlacementResult`.

Typical use by a controller::

    candidates = CandidateSet(clusters)          # once per cluster-set change
    result = decide(candidates, policy, workload, previous, DecisionContext(now, cursor))
    batch = decide_many(candidates, policy, workloads, previous_by_key, DecisionContext(now, cursor))

Module map: ``selectors`` (label selectors), ``filters`` (per-cluster
eligibility stages with reasons), ``index`` (bitset-indexed candidate sets),
``scoring``, ``strategies`` (RoundRobin / Affinity / Spread selection),
``division`` (replica splits), ``engine`` (orchestration and explanations).
"""

from tmc.placement.engine import decide, decide_many
from tmc.placement.errors import InvalidSelectorError, PlacementValidationError
from tmc.placement.filters import next_toleration_expiry
from tmc.placement.index import CandidateSet
from tmc.placement.selectors import CompiledSelector, compile_selector
from tmc.placement.types import (
    LOCATION_LABEL,
    NOT_READY_TAINT_KEY,
    Affinity,
    BatchResult,
    CapabilityRequirement,
    ClusterCandidate,
    ClusterExplanation,
    Decision,
    DecisionContext,
    DivisionMode,
    FrozenLabels,
    HostedWorkload,
    LabelSelector,
    LabelSelectorRequirement,
    NumberOfClusters,
    PlacementPolicy,
    PlacementResult,
    PlacementStatus,
    PreferredTerm,
    PreviousDecision,
    Reason,
    ReasonCode,
    ReasonEffect,
    ReplicaDivision,
    ScoreBreakdown,
    SelectorOperator,
    SpreadConstraint,
    StaticWeight,
    Strategy,
    Taint,
    TaintEffect,
    Toleration,
    TolerationOperator,
    Weighting,
    Workload,
)

__all__ = [
    "LOCATION_LABEL",
    "NOT_READY_TAINT_KEY",
    "Affinity",
    "BatchResult",
    "CandidateSet",
    "CapabilityRequirement",
    "ClusterCandidate",
    "ClusterExplanation",
    "CompiledSelector",
    "Decision",
    "DecisionContext",
    "DivisionMode",
    "FrozenLabels",
    "HostedWorkload",
    "InvalidSelectorError",
    "LabelSelector",
    "LabelSelectorRequirement",
    "NumberOfClusters",
    "PlacementPolicy",
    "PlacementResult",
    "PlacementStatus",
    "PlacementValidationError",
    "PreferredTerm",
    "PreviousDecision",
    "Reason",
    "ReasonCode",
    "ReasonEffect",
    "ReplicaDivision",
    "ScoreBreakdown",
    "SelectorOperator",
    "SpreadConstraint",
    "StaticWeight",
    "Strategy",
    "Taint",
    "TaintEffect",
    "Toleration",
    "TolerationOperator",
    "Weighting",
    "Workload",
    "compile_selector",
    "decide",
    "decide_many",
    "next_toleration_expiry",
]
