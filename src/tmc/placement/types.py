"""Value types for the placement engine: inputs (clusters, policy, workload) and outputs.

Everything here is an immutable value. Mappings passed in are copied into
:class:`FrozenLabels` so a caller mutating its own dict after construction can
never change a decision that was (or will be) computed from the value; this is
what makes it safe for the engine to cache per-snapshot indexes.

Enum-typed fields also accept the plain strings used by the YAML API
(``"RoundRobin"``, ``"NoSchedule"``, ...) and are normalised on construction.
Field names mirror the camelCase API in snake_case.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Final, NoReturn, TypeVar

from tmc.placement.errors import PlacementValidationError

if TYPE_CHECKING:
    from tmc.placement.policy import CompiledPolicy

LOCATION_LABEL: Final = "tmc.kcp.io/location"
"""Selectable label carrying a cluster's ``spec.location``; also a valid Spread topology key."""

NOT_READY_TAINT_KEY: Final = "tmc.kcp.io/not-ready"
"""Key of the implicit ``NoExecute`` taint every NotReady cluster carries."""


class FrozenLabels(dict[str, str]):
    """An immutable, hashable ``str -> str`` mapping.

    It subclasses ``dict`` rather than ``Mapping`` on purpose: lookups stay in C,
    which matters on the per-cluster paths.
    """

    __slots__ = ("_hash",)

    def __init__(self, data: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        super().__init__(data)
        for key, value in dict.items(self):
            if not isinstance(key, str) or not isinstance(value, str):
                raise TypeError(f"labels must map str to str, got {key!r}: {value!r}")
        self._hash: int | None = None

    def __hash__(self) -> int:  # type: ignore[override]
        if self._hash is None:
            self._hash = hash(frozenset(dict.items(self)))
        return self._hash

    def __reduce__(self) -> tuple[type[FrozenLabels], tuple[dict[str, str]]]:
        return (FrozenLabels, (dict(self),))

    def __repr__(self) -> str:
        return f"FrozenLabels({dict.__repr__(self)})"

    def _immutable(self, *args: object, **kwargs: object) -> NoReturn:
        raise TypeError("FrozenLabels is immutable")

    __setitem__ = _immutable
    __delitem__ = _immutable
    __ior__ = _immutable
    clear = _immutable
    pop = _immutable
    popitem = _immutable
    setdefault = _immutable
    update = _immutable


EMPTY_LABELS: Final = FrozenLabels()


def freeze_labels(labels: Mapping[str, str]) -> FrozenLabels:
    """Return ``labels`` as :class:`FrozenLabels`, copying only when needed."""
    return labels if isinstance(labels, FrozenLabels) else FrozenLabels(labels)


_E = TypeVar("_E", bound=StrEnum)


def _coerce(enum: type[_E], value: object, path: str) -> _E:
    try:
        return enum(str(value))
    except ValueError:
        allowed = ", ".join(member.value for member in enum)
        raise PlacementValidationError(path, f"unknown value {value!r} (expected one of {allowed})") from None


def _set(obj: object, name: str, value: object) -> None:
    # Frozen dataclasses normalise their own fields in __post_init__.
    object.__setattr__(obj, name, value)


# --------------------------------------------------------------------------- enums


class Strategy(StrEnum):
    ROUND_ROBIN = "RoundRobin"
    AFFINITY = "Affinity"
    SPREAD = "Spread"


class SelectorOperator(StrEnum):
    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"
    GT = "Gt"
    LT = "Lt"


class TaintEffect(StrEnum):
    NO_SCHEDULE = "NoSchedule"
    PREFER_NO_SCHEDULE = "PreferNoSchedule"
    NO_EXECUTE = "NoExecute"


class TolerationOperator(StrEnum):
    EQUAL = "Equal"
    EXISTS = "Exists"


class DivisionMode(StrEnum):
    DUPLICATED = "Duplicated"
    DIVIDED = "Divided"


class Weighting(StrEnum):
    EVEN = "Even"
    STATIC = "Static"
    CAPACITY = "Capacity"


class PlacementStatus(StrEnum):
    SCHEDULED = "Scheduled"
    NO_ELIGIBLE_CLUSTERS = "NoEligibleClusters"
    UNSCHEDULABLE = "Unschedulable"


class ReasonEffect(StrEnum):
    """What a reason does to a cluster: informational, blocks new placements only, or blocks all."""

    INFO = "Info"
    BLOCKS_NEW = "BlocksNew"
    BLOCKS_ALL = "BlocksAll"


class ReasonCode(StrEnum):
    NOT_READY = "NotReady"
    NOT_READY_TOLERATION_EXPIRED = "NotReadyTolerationExpired"
    UNSCHEDULABLE = "Unschedulable"
    TAINT_NOT_TOLERATED = "TaintNotTolerated"
    TAINT_TOLERATED_TEMPORARILY = "TaintToleratedTemporarily"
    TAINT_TOLERATION_EXPIRED = "TaintTolerationExpired"
    TAINT_PREFER_NO_SCHEDULE = "TaintPreferNoSchedule"
    CAPABILITY_MISSING = "CapabilityMissing"
    TOPOLOGY_KEY_MISSING = "TopologyKeyMissing"
    LOCATION_SELECTOR_MISMATCH = "LocationSelectorMismatch"
    REQUIRED_AFFINITY_MISMATCH = "RequiredAffinityMismatch"
    WORKLOAD_ANTI_AFFINITY = "WorkloadAntiAffinity"
    NOT_IN_CANDIDATES = "NotInCandidates"
    SELECTED = "Selected"
    NOT_SELECTED = "NotSelected"


# ------------------------------------------------------------------- label selectors


@dataclass(frozen=True, slots=True)
class LabelSelectorRequirement:
    """One ``matchExpressions`` entry. Validated when the owning policy is compiled."""

    key: str
    operator: SelectorOperator
    values: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.values, tuple):
            _set(self, "values", tuple(self.values))


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """Kubernetes-style selector: all ``match_labels`` and all ``match_expressions`` must hold.

    The empty selector matches everything.
    """

    match_labels: Mapping[str, str] = EMPTY_LABELS
    match_expressions: tuple[LabelSelectorRequirement, ...] = ()

    def __post_init__(self) -> None:
        _set(self, "match_labels", freeze_labels(self.match_labels))
        if not isinstance(self.match_expressions, tuple):
            _set(self, "match_expressions", tuple(self.match_expressions))

    @property
    def is_empty(self) -> bool:
        return not self.match_labels and not self.match_expressions


EVERYTHING: Final = LabelSelector()


# ------------------------------------------------------------------------ clusters


@dataclass(frozen=True, slots=True)
class Taint:
    key: str
    value: str
    effect: TaintEffect
    time_added: float | None = None
    """When the taint appeared (seconds); bounds ``tolerationSeconds`` for NoExecute."""

    def __post_init__(self) -> None:
        _set(self, "effect", _coerce(TaintEffect, self.effect, "taint.effect"))

    def __str__(self) -> str:
        return f"{self.key}={self.value}:{self.effect}" if self.value else f"{self.key}:{self.effect}"


@dataclass(frozen=True, slots=True)
class HostedWorkload:
    """A workload already placed on a cluster, as seen by workload (anti-)affinity.

    The key lets the engine ignore the workload being decided: a workload never
    repels or attracts itself.
    """

    key: str
    labels: Mapping[str, str] = EMPTY_LABELS

    def __post_init__(self) -> None:
        _set(self, "labels", freeze_labels(self.labels))


@dataclass(frozen=True, slots=True)
class ClusterCandidate:
    """A physical cluster as the engine sees it.

    ``selectable_labels`` (derived) is ``labels`` plus ``tmc.kcp.io/location=<location>``;
    the location wins over a user label with the same key, because it is how the
    user-facing ``spec.location`` becomes selectable.
    """

    name: str
    location: str = ""
    labels: Mapping[str, str] = EMPTY_LABELS
    effective_capabilities: frozenset[str] = frozenset()
    """Capability types that are actually available now (not merely declared)."""
    ready: bool = True
    not_ready_since: float | None = None
    unschedulable: bool = False
    taints: tuple[Taint, ...] = ()
    allocatable_cpu_millis: int | None = None
    allocatable_memory_bytes: int | None = None
    hosted_workloads: tuple[HostedWorkload, ...] = ()
    selectable_labels: Mapping[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.name:
            raise PlacementValidationError("cluster.name", "must not be empty")
        labels = freeze_labels(self.labels)
        _set(self, "labels", labels)
        if not isinstance(self.effective_capabilities, frozenset):
            _set(self, "effective_capabilities", frozenset(self.effective_capabilities))
        if not isinstance(self.taints, tuple):
            _set(self, "taints", tuple(self.taints))
        if not isinstance(self.hosted_workloads, tuple):
            _set(self, "hosted_workloads", tuple(self.hosted_workloads))
        for attr in ("allocatable_cpu_millis", "allocatable_memory_bytes"):
            value = getattr(self, attr)
            if value is not None and value < 0:
                raise PlacementValidationError(f"cluster[{self.name}].{attr}", "must not be negative")
        selectable = FrozenLabels({**labels, LOCATION_LABEL: self.location}) if self.location else labels
        _set(self, "selectable_labels", selectable)


# -------------------------------------------------------------------------- policy


@dataclass(frozen=True, slots=True)
class CapabilityRequirement:
    """``required=True`` filters clusters lacking the capability; otherwise it only adds score."""

    type: str
    required: bool = True


@dataclass(frozen=True, slots=True)
class NumberOfClusters:
    """``max=None`` means every eligible cluster for Spread, and ``min`` for RoundRobin/Affinity."""

    min: int = 1
    max: int | None = None


@dataclass(frozen=True, slots=True)
class PreferredTerm:
    weight: int
    selector: LabelSelector


@dataclass(frozen=True, slots=True)
class Affinity:
    """Cluster affinity (``required`` terms are ORed) and workload (anti-)affinity.

    ``workload_anti_affinity`` is enforced when choosing new clusters only (like
    Kubernetes' IgnoredDuringExecution): evicting on it would make two mutually
    anti-affine workloads that landed together both move, forever.
    """

    required: tuple[LabelSelector, ...] = ()
    preferred: tuple[PreferredTerm, ...] = ()
    workload_affinity: LabelSelector | None = None
    workload_anti_affinity: LabelSelector | None = None


@dataclass(frozen=True, slots=True)
class SpreadConstraint:
    """``topology_key=None`` spreads over individual clusters."""

    topology_key: str | None = LOCATION_LABEL
    max_skew: int = 1


@dataclass(frozen=True, slots=True)
class Toleration:
    """Kubernetes toleration semantics; ``effect=None`` tolerates every effect.

    ``toleration_seconds`` (NoExecute only) bounds how long an *existing*
    placement survives the taint; ``None`` means forever.
    """

    key: str = ""
    operator: TolerationOperator = TolerationOperator.EQUAL
    value: str = ""
    effect: TaintEffect | None = None
    toleration_seconds: float | None = None

    def __post_init__(self) -> None:
        _set(self, "operator", _coerce(TolerationOperator, self.operator, "toleration.operator"))
        if self.effect is not None:
            _set(self, "effect", _coerce(TaintEffect, self.effect, "toleration.effect"))

    def tolerates(self, taint: Taint) -> bool:
        if self.effect is not None and self.effect != taint.effect:
            return False
        if self.operator is TolerationOperator.EXISTS:
            return not self.key or self.key == taint.key
        return self.key == taint.key and self.value == taint.value


@dataclass(frozen=True, slots=True)
class StaticWeight:
    """A Static weighting rule; ``target`` is a cluster name or a selector. First match wins."""

    target: LabelSelector | str
    weight: int


@dataclass(frozen=True, slots=True)
class ReplicaDivision:
    mode: DivisionMode = DivisionMode.DIVIDED
    weighting: Weighting = Weighting.EVEN
    static_weights: tuple[StaticWeight, ...] = ()

    def __post_init__(self) -> None:
        _set(self, "mode", _coerce(DivisionMode, self.mode, "spec.replicaDivision.mode"))
        _set(self, "weighting", _coerce(Weighting, self.weighting, "spec.replicaDivision.weighting"))


@dataclass(frozen=True, slots=True)
class PlacementPolicy:
    """A placement's scheduling policy. Validated (with field paths) on construction."""

    strategy: Strategy
    location_selector: LabelSelector = EVERYTHING
    capability_requirements: tuple[CapabilityRequirement, ...] = ()
    number_of_clusters: NumberOfClusters = NumberOfClusters()
    affinity: Affinity = Affinity()
    spread: SpreadConstraint = SpreadConstraint()
    fallback_groups: tuple[LabelSelector, ...] = ()
    tolerations: tuple[Toleration, ...] = ()
    replica_division: ReplicaDivision = ReplicaDivision()
    compiled: CompiledPolicy = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        # Imported here: policy.py needs these types, and compiling once at
        # construction both validates early and keeps per-decision work low.
        from tmc.placement.policy import compile_policy

        _set(self, "strategy", _coerce(Strategy, self.strategy, "spec.strategy"))
        for name in ("capability_requirements", "fallback_groups", "tolerations"):
            value = getattr(self, name)
            if not isinstance(value, tuple):
                _set(self, name, tuple(value))
        _set(self, "compiled", compile_policy(self))


# ------------------------------------------------------------------ workload/context


@dataclass(frozen=True, slots=True)
class Workload:
    key: str
    replicas: int = 1
    labels: Mapping[str, str] = EMPTY_LABELS

    def __post_init__(self) -> None:
        if not self.key:
            raise PlacementValidationError("workload.key", "must not be empty")
        if self.replicas < 0:
            raise PlacementValidationError("workload.replicas", f"must be >= 0, got {self.replicas}")
        _set(self, "labels", freeze_labels(self.labels))


@dataclass(frozen=True, slots=True)
class DecisionContext:
    """Everything time- or history-dependent: the clock and the placement's round-robin cursor."""

    now: float
    round_robin_cursor: int = 0

    def __post_init__(self) -> None:
        if self.round_robin_cursor < 0:
            raise PlacementValidationError("roundRobinCursor", "must be >= 0")


Decision = tuple[tuple[str, int], ...]
"""Ordered (by cluster name) ``(cluster, replicas)`` pairs."""

PreviousDecision = tuple[tuple[str, int], ...]


# ------------------------------------------------------------------------- outputs


@dataclass(frozen=True, slots=True)
class Reason:
    code: ReasonCode
    message: str
    effect: ReasonEffect = ReasonEffect.BLOCKS_ALL


@dataclass(frozen=True, slots=True)
class ScoreBreakdown:
    preferred_affinity: int = 0
    workload_affinity: int = 0
    preferred_capabilities: int = 0
    capacity: int = 0
    prefer_no_schedule_penalty: int = 0
    stickiness: int = 0

    @property
    def total(self) -> int:
        return (
            self.preferred_affinity
            + self.workload_affinity
            + self.preferred_capabilities
            + self.capacity
            + self.stickiness
            - self.prefer_no_schedule_penalty
        )


@dataclass(frozen=True, slots=True)
class ClusterExplanation:
    """Why a cluster was or was not chosen.

    ``eligible`` is judged for the cluster's role: a cluster in the previous
    decision is eligible if it may *keep* the workload, any other cluster if it
    may *receive* it. ``score`` is ``None`` for ineligible clusters.
    """

    cluster: str
    eligible: bool
    selected: bool
    replicas: int | None
    reasons: tuple[Reason, ...]
    score: ScoreBreakdown | None


@dataclass(frozen=True, slots=True)
class PlacementResult:
    workload: str
    status: PlacementStatus
    message: str
    decision: Decision
    fallback_group: int | None
    """Index into ``fallback_groups`` that produced the decision; ``None`` = the placement's own selector."""
    round_robin_cursor: int
    explanations: Mapping[str, ClusterExplanation] = field(compare=True, hash=False, repr=False)
    """Lazily computed on first access of each cluster; iteration order is by cluster name."""

    @property
    def replicas_by_cluster(self) -> dict[str, int]:
        return dict(self.decision)

    @property
    def clusters(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.decision)


@dataclass(frozen=True, slots=True)
class BatchResult:
    results: Mapping[str, PlacementResult]
    """By workload key, in the (sorted) order the workloads were decided."""
    round_robin_cursor: int

    def __iter__(self) -> Iterator[PlacementResult]:
        return iter(self.results.values())
