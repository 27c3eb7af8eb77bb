"""CandidateSet: an indexed, name-sorted snapshot of cluster candidates.

Build one whenever the set of clusters changes and pass it to every decision
made against that snapshot (``decide`` also accepts a plain iterable and builds
a throw-away set). All indexes are lazy and memoised on the set, so the first
decision pays for what it touches and later ones reuse it:

* per-attribute bitsets (ready, cordoned, untainted, per capability);
* per label key, ``value -> bitset``: a selector is evaluated once per distinct
  label *value* rather than once per cluster, and the result is memoised per
  selector;
* capacity score levels, taint treatments per distinct taint list, and which
  clusters host workloads matching a workload (anti-)affinity selector.

The set is immutable from the outside; the memo tables are an implementation
detail (concurrent fills compute the same value, so races are benign).
"""

from __future__ import annotations

import itertools
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from operator import add, attrgetter
from types import MappingProxyType

from tmc.placement import bits
from tmc.placement.errors import PlacementValidationError
from tmc.placement.filters import (
    NOT_READY_TAINT,
    TaintTreatment,
    check_ready,
    check_taints,
    hosted_matches,
    taint_treatment,
)
from tmc.placement.policy import CompiledPolicy
from tmc.placement.scoring import CAPACITY_WEIGHT_PER_RESOURCE
from tmc.placement.selectors import CompiledSelector
from tmc.placement.types import ClusterCandidate, ReasonCode, SelectorOperator, Taint, Toleration

_NAME = attrgetter("name")


@dataclass(frozen=True, slots=True)
class TaintSummary:
    """Bulk taint treatment of a candidate set under one list of tolerations."""

    allows_new: int
    """Clusters none of whose taints block new placements (untainted included)."""
    penalties: dict[int, int]
    """Cluster index -> number of untolerated PreferNoSchedule taints (only clusters with some)."""
    penalised: int


@dataclass(frozen=True, slots=True)
class HostIndex:
    """Clusters hosting workloads that match a selector, for workload (anti-)affinity."""

    any_match: int
    only: dict[str, int]
    """Workload key -> clusters whose *only* matching hosted workload is that key."""

    def excluding(self, workload_key: str) -> int:
        """Clusters hosting a matching workload other than ``workload_key``."""
        return self.any_match & ~self.only.get(workload_key, 0)


@dataclass(frozen=True, slots=True)
class Eligibility:
    """New-placement eligibility of a set under one policy and location group."""

    mask: int
    rejected: tuple[tuple[ReasonCode, int], ...]
    """Clusters rejected per stage, attributed to the first failing stage in pipeline order."""


_ABSENT = "\x00absent"
"""Stands for a missing label (no valid label value contains NUL); a ``str`` so ``__eq__`` stays boolean."""


class _LabelIndex:
    """``value -> bitset`` for one label key.

    Keys with up to 255 distinct values (regions, zones, tiers: the usual case)
    are encoded in one pass as a byte per cluster; each value's mask is then a
    C-level ``bytes.translate`` away. Higher-cardinality keys group positions in
    one Python pass and build masks on demand.
    """

    __slots__ = ("_codes", "_masks", "_positions", "_size", "present", "values")

    def __init__(self, key: str, clusters: tuple[ClusterCandidate, ...]) -> None:
        observed = [c.selectable_labels.get(key, _ABSENT) for c in clusters]
        distinct = set(observed)
        distinct.discard(_ABSENT)
        self.values = sorted(distinct)
        self._size = len(clusters)
        self._masks: dict[str, int] = {}
        self._positions: dict[str, list[int]] = {}
        self._codes: bytes | None = None
        if len(self.values) < 256:
            code_of = {value: code for code, value in enumerate(self.values, start=1)}
            code_of[_ABSENT] = 0
            self._codes = bytes(map(code_of.__getitem__, observed))
            self.present = bits.from_flag_bytes(self._codes.translate(_NONZERO))
        else:
            self.present = bits.from_flags(map(_ABSENT.__ne__, observed))
            for i, value in enumerate(observed):
                if value is not _ABSENT:
                    self._positions.setdefault(value, []).append(i)

    def mask(self, value: str) -> int:
        mask = self._masks.get(value)
        if mask is None:
            if self._codes is not None:
                code = bisect_left(self.values, value) + 1
                if code <= len(self.values) and self.values[code - 1] == value:
                    mask = bits.from_flag_bytes(self._codes.translate(_selecting(code)))
                else:
                    mask = 0
            else:
                positions = self._positions.get(value)
                mask = bits.from_indices(positions, self._size) if positions else 0
            self._masks[value] = mask
        return mask

    def ids(self) -> list[int]:
        """Per position, the value's index in ``values``, or -1 if the label is absent."""
        if self._codes is not None:
            return [code - 1 for code in self._codes]
        id_of = {value: i for i, value in enumerate(self.values)}
        ids = [-1] * self._size
        for value, positions in self._positions.items():
            for i in positions:
                ids[i] = id_of[value]
        return ids


_NONZERO = bytes([0] + [1] * 255)


def _selecting(code: int) -> bytes:
    """A ``bytes.translate`` table mapping ``code`` to 1 and every other byte to 0."""
    return bytes(code) + b"\x01" + bytes(255 - code)


class CandidateSet:
    __slots__ = (
        "_all",
        "_attr_masks",
        "_capabilities",
        "_capacity",
        "_clusters",
        "_hosts",
        "_ids",
        "_index_of",
        "_labels",
        "_names",
        "_positions",
        "_selectors",
        "_taint_lists",
        "_taints",
    )

    def __init__(self, candidates: Iterable[ClusterCandidate]) -> None:
        clusters = tuple(sorted(candidates, key=_NAME))
        index_of = {c.name: i for i, c in enumerate(clusters)}
        if len(index_of) != len(clusters):
            duplicates = sorted({a.name for a, b in itertools.pairwise(clusters) if a.name == b.name})
            raise PlacementValidationError("candidates", f"duplicate cluster names: {', '.join(duplicates)}")
        self._clusters = clusters
        self._names = tuple(c.name for c in clusters)
        self._index_of = index_of
        self._positions = MappingProxyType(index_of)
        self._all = (1 << len(clusters)) - 1
        self._attr_masks: dict[str, int] = {}
        self._capabilities: dict[str, int] = {}
        self._labels: dict[str, _LabelIndex] = {}
        self._selectors: dict[CompiledSelector, int] = {}
        self._taints: dict[tuple[Toleration, ...], TaintSummary] = {}
        self._taint_lists: dict[tuple[Taint, ...], list[int]] | None = None
        self._ids: dict[str, tuple[list[int], list[str]]] = {}
        self._hosts: dict[CompiledSelector, HostIndex] = {}
        self._capacity: tuple[tuple[int, int], dict[int, int]] | None = None

    @classmethod
    def of(cls, candidates: CandidateSet | Iterable[ClusterCandidate]) -> CandidateSet:
        return candidates if isinstance(candidates, CandidateSet) else cls(candidates)

    # ------------------------------------------------------------ container API

    @property
    def clusters(self) -> tuple[ClusterCandidate, ...]:
        """Candidates sorted by name; position = bit index."""
        return self._clusters

    @property
    def names(self) -> tuple[str, ...]:
        return self._names

    @property
    def all(self) -> int:
        return self._all

    def __len__(self) -> int:
        return len(self._clusters)

    def __iter__(self) -> Iterator[ClusterCandidate]:
        return iter(self._clusters)

    def __contains__(self, name: object) -> bool:
        return name in self._index_of

    def index_of(self, name: str) -> int | None:
        return self._index_of.get(name)

    @property
    def positions(self) -> Mapping[str, int]:
        """Cluster name -> bit index."""
        return self._positions

    def get(self, name: str) -> ClusterCandidate | None:
        i = self._index_of.get(name)
        return None if i is None else self._clusters[i]

    def __repr__(self) -> str:
        return f"CandidateSet({len(self._clusters)} clusters)"

    # ---------------------------------------------------------- attribute masks

    def _attr(self, name: str) -> int:
        mask = self._attr_masks.get(name)
        if mask is None:
            if name == "ready":
                mask = bits.from_flags([c.ready for c in self._clusters])
            elif name == "schedulable":
                mask = bits.from_flags([not c.unschedulable for c in self._clusters])
            else:
                mask = bits.from_flags([not c.taints for c in self._clusters])
            self._attr_masks[name] = mask
        return mask

    @property
    def ready(self) -> int:
        return self._attr("ready")

    @property
    def schedulable(self) -> int:
        return self._attr("schedulable")

    @property
    def untainted(self) -> int:
        return self._attr("untainted")

    def capability(self, capability: str) -> int:
        mask = self._capabilities.get(capability)
        if mask is None:
            mask = bits.from_flags([capability in c.effective_capabilities for c in self._clusters])
            self._capabilities[capability] = mask
        return mask

    # -------------------------------------------------------------- label index

    def _label(self, key: str) -> _LabelIndex:
        index = self._labels.get(key)
        if index is None:
            index = self._labels[key] = _LabelIndex(key, self._clusters)
        return index

    def has_label(self, key: str) -> int:
        return self._label(key).present

    def label_values(self, key: str) -> list[str]:
        """Distinct values of ``key``, sorted."""
        return self._label(key).values

    def with_label(self, key: str, value: str) -> int:
        return self._label(key).mask(value)

    def matching(self, selector: CompiledSelector) -> int:
        """Clusters whose selectable labels match ``selector``."""
        mask = self._selectors.get(selector)
        if mask is None:
            mask = self._all
            for key, op, values in selector.requirements:
                if op is SelectorOperator.IN:
                    hit = 0
                    for value in values:
                        hit |= self.with_label(key, value)
                elif op is SelectorOperator.NOT_IN:
                    hit = self._all
                    for value in values:
                        hit &= ~self.with_label(key, value)
                elif op is SelectorOperator.EXISTS:
                    hit = self.has_label(key)
                elif op is SelectorOperator.DOES_NOT_EXIST:
                    hit = self._all & ~self.has_label(key)
                else:
                    hit = self._numeric(key, op, int(values[0]))
                mask &= hit
                if not mask:
                    break
            self._selectors[selector] = mask
        return mask

    def _numeric(self, key: str, op: SelectorOperator, bound: int) -> int:
        hit = 0
        index = self._label(key)
        for value in index.values:
            try:
                number = int(value, 10)
            except ValueError:
                continue
            if (number > bound) if op is SelectorOperator.GT else (number < bound):
                hit |= index.mask(value)
        return hit

    # ----------------------------------------------------------- derived indexes

    def _taint_groups(self) -> dict[tuple[Taint, ...], list[int]]:
        """Tainted clusters grouped by their exact taint list (few distinct lists in practice)."""
        groups = self._taint_lists
        if groups is None:
            groups = {}
            for i in bits.indices(self._all & ~self.untainted):
                groups.setdefault(self._clusters[i].taints, []).append(i)
            self._taint_lists = groups
        return groups

    def taints(self, tolerations: tuple[Toleration, ...]) -> TaintSummary:
        summary = self._taints.get(tolerations)
        if summary is None:
            allows_new = self.untainted
            penalties: dict[int, int] = {}
            for taint_list, members in self._taint_groups().items():
                treatments = [taint_treatment(t, tolerations)[0] for t in taint_list]
                if all(t in (TaintTreatment.TOLERATED, TaintTreatment.PENALISED) for t in treatments):
                    allows_new |= bits.from_indices(members, len(self._clusters))
                penalty = treatments.count(TaintTreatment.PENALISED)
                if penalty:
                    penalties.update(dict.fromkeys(members, penalty))
            penalised = bits.from_indices(penalties, len(self._clusters))
            summary = TaintSummary(allows_new, penalties, penalised)
            self._taints[tolerations] = summary
        return summary

    def keeps_existing(self, tolerations: tuple[Toleration, ...], now: float) -> int:
        """Clusters whose readiness and taints let them keep a workload they already host.

        Time-dependent, so not memoised here; the engine keeps it per decision call.
        """
        size = len(self._clusters)
        keeps = self.untainted
        for members in self._taint_groups().values():
            # Every member has exactly these taints, so the first one speaks for all.
            if check_taints(self._clusters[members[0]], tolerations, now).allows_existing:
                keeps |= bits.from_indices(members, size)
        not_ready = self._all & ~self.ready
        if not_ready:
            treatment, _ = taint_treatment(NOT_READY_TAINT, tolerations)
            if treatment is TaintTreatment.BLOCKS_ALL:
                keeps &= self.ready
            elif treatment is TaintTreatment.TEMPORARY:
                tolerated = [
                    i
                    for i in bits.indices(not_ready)
                    if check_ready(self._clusters[i], tolerations, now).allows_existing
                ]
                keeps &= self.ready | bits.from_indices(tolerated, size)
        return keeps

    def label_ids(self, key: str) -> tuple[list[int], list[str]]:
        """Per position, the index of the cluster's value of ``key`` in the sorted values (-1 if absent)."""
        entry = self._ids.get(key)
        if entry is None:
            index = self._label(key)
            entry = self._ids[key] = (index.ids(), index.values)
        return entry

    def capacity(self) -> tuple[tuple[int, int], dict[int, int]]:
        """``((max_cpu, max_memory), level -> clusters with that capacity score)``, zero level omitted.

        Same arithmetic as :func:`tmc.placement.scoring.capacity_score`, in list form.
        """
        if self._capacity is None:
            cpu = [c.allocatable_cpu_millis or 0 for c in self._clusters]
            memory = [c.allocatable_memory_bytes or 0 for c in self._clusters]
            max_cpu, max_memory = max(cpu, default=0), max(memory, default=0)
            weight = CAPACITY_WEIGHT_PER_RESOURCE
            levels = [0] * len(self._clusters)
            if max_cpu:
                levels = list(map(add, levels, [weight * x // max_cpu for x in cpu]))
            if max_memory:
                levels = list(map(add, levels, [weight * x // max_memory for x in memory]))
            codes = bytes(levels)  # levels are 0..10
            masks = {level: bits.from_flag_bytes(codes.translate(_selecting(level))) for level in set(levels) if level}
            self._capacity = ((max_cpu, max_memory), masks)
        return self._capacity

    def hosts(self, selector: CompiledSelector) -> HostIndex:
        index = self._hosts.get(selector)
        if index is None:
            any_match: list[int] = []
            only: dict[str, list[int]] = {}
            hosting = bits.from_flags([bool(c.hosted_workloads) for c in self._clusters])
            for i in bits.indices(hosting):
                keys = set(hosted_matches(self._clusters[i], selector, ""))
                if keys:
                    any_match.append(i)
                    if len(keys) == 1:
                        only.setdefault(next(iter(keys)), []).append(i)
            size = len(self._clusters)
            index = HostIndex(
                bits.from_indices(any_match, size),
                {key: bits.from_indices(members, size) for key, members in only.items()},
            )
            self._hosts[selector] = index
        return index

    # ------------------------------------------------------------- eligibility

    def _placement_stages(self, policy: CompiledPolicy, group: int) -> list[tuple[ReasonCode, int]]:
        """The stages that apply to new and existing placements alike."""
        stages: list[tuple[ReasonCode, int]] = []
        if policy.required_capabilities:
            capable = self._all
            for capability in policy.required_capabilities:
                capable &= self.capability(capability)
            stages.append((ReasonCode.CAPABILITY_MISSING, capable))
        if policy.topology_key is not None:
            stages.append((ReasonCode.TOPOLOGY_KEY_MISSING, self.has_label(policy.topology_key)))
        location = policy.location_groups[group]
        if not location.is_empty:
            stages.append((ReasonCode.LOCATION_SELECTOR_MISMATCH, self.matching(location)))
        if policy.required_terms:
            any_term = 0
            for term in policy.required_terms:
                any_term |= self.matching(term)
            stages.append((ReasonCode.REQUIRED_AFFINITY_MISMATCH, any_term))
        return stages

    def eligibility(self, policy: CompiledPolicy, group: int) -> Eligibility:
        """Workload-independent new-placement eligibility (everything but anti-affinity).

        Mirrors :func:`tmc.placement.filters.evaluate` in bulk; the tests hold the two to agreement.
        """
        stages = [
            (ReasonCode.NOT_READY, self.ready),
            (ReasonCode.UNSCHEDULABLE, self.schedulable),
            (ReasonCode.TAINT_NOT_TOLERATED, self.taints(policy.tolerations).allows_new),
            *self._placement_stages(policy, group),
        ]
        remaining = self._all
        rejected = []
        for code, passing in stages:
            dropped = (remaining & ~passing).bit_count()
            if dropped:
                rejected.append((code, dropped))
            remaining &= passing
        return Eligibility(remaining, tuple(rejected))

    def existing_eligibility(self, policy: CompiledPolicy, group: int, now: float) -> int:
        """Clusters that may keep a workload they already host (cordons and anti-affinity never evict)."""
        mask = self.keeps_existing(policy.tolerations, now)
        for _, passing in self._placement_stages(policy, group):
            mask &= passing
        return mask
