"""The placement decision: ``decide`` for one workload, ``decide_many`` for a batch.

A decision runs in three steps.

1. **Keep.** If the previous decision is still *valid* - every cluster in it
   still exists and may keep the workload (under one location group), and its
   size is within ``numberOfClusters`` - it is returned unchanged (replicas are
   re-divided, which is a pure function of the kept clusters). This is why an
   unrelated cluster flipping Ready, or a new cluster appearing, never changes
   an existing decision. There is no automatic fail-back from a fallback group
   either: a fallback decision is kept while it stays valid.
2. **Place.** Otherwise location groups are tried in order -
   ``spec.locationSelector`` then each ``spec.fallbackGroups[i]`` (each group
   *replaces* the location selector; all other filters still apply). In a
   group, the previous clusters that may stay are kept and the strategy fills
   the rest from the clusters that may receive it. The first group that can
   reach ``numberOfClusters.min`` wins.
3. **Divide** replicas (:mod:`tmc.placement.division`).

``numberOfClusters.max`` unset means "every eligible cluster" for Spread and
``min`` for RoundRobin and Affinity. A decision is empty unless the status is
Scheduled; clusters may receive 0 replicas in Divided mode (e.g. 2 replicas over
3 clusters), which keeps the cluster set stable when a workload scales.

Work that does not depend on the workload (filtering, base scores, host
indexes) lives in :class:`_Prepared` and is shared by all workloads of a
``decide_many`` call; the per-workload part is a few bitset operations plus
the size of the decision. Explanations are computed lazily, per cluster, on
first access.
"""

from __future__ import annotations

import itertools
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from tmc.placement import bits, division, filters, scoring, strategies
from tmc.placement.errors import PlacementValidationError
from tmc.placement.index import CandidateSet, Eligibility
from tmc.placement.strategies import Selection
from tmc.placement.types import (
    BatchResult,
    ClusterCandidate,
    ClusterExplanation,
    Decision,
    DecisionContext,
    DivisionMode,
    PlacementPolicy,
    PlacementResult,
    PlacementStatus,
    PreviousDecision,
    Reason,
    ReasonCode,
    ReasonEffect,
    Strategy,
    Weighting,
    Workload,
)

_LISTED_ASSIGNMENTS = 5


class _Prepared:
    """Workload-independent state for one (candidate set, policy, now)."""

    __slots__ = ("_base", "_existing", "_views", "candidates", "compiled", "now", "policy")

    def __init__(self, candidates: CandidateSet, policy: PlacementPolicy, now: float) -> None:
        self.candidates = candidates
        self.policy = policy
        self.compiled = policy.compiled
        self.now = now
        self._views: dict[int, Eligibility] = {}
        self._existing: dict[int, int] = {}
        self._base: scoring.ScoreClasses | None = None

    def view(self, group: int) -> Eligibility:
        view = self._views.get(group)
        if view is None:
            view = self._views[group] = self.candidates.eligibility(self.compiled, group)
        return view

    def existing(self, group: int) -> int:
        """Clusters that may keep a workload they already host, under location group ``group``."""
        mask = self._existing.get(group)
        if mask is None:
            mask = self._existing[group] = self.candidates.existing_eligibility(self.compiled, group, self.now)
        return mask

    def allows_existing(self, index: int, group: int) -> bool:
        return bool(self.existing(group) >> index & 1)

    def anti_blocked(self, workload_key: str) -> int:
        selector = self.compiled.workload_anti_affinity
        return 0 if selector is None else self.candidates.hosts(selector).excluding(workload_key)

    @property
    def capacity_max(self) -> tuple[int, int]:
        return self.candidates.capacity()[0]

    def base_classes(self) -> scoring.ScoreClasses:
        """Scores of every cluster from the workload-independent components."""
        if self._base is None:
            cp, cset = self.compiled, self.candidates
            classes: scoring.ScoreClasses = {0: cset.all} if cset.all else {}
            for weight, term in cp.preferred_terms:
                classes = scoring.refine(classes, weight, cset.matching(term))
            for capability in cp.optional_capabilities:
                classes = scoring.refine(classes, scoring.PREFERRED_CAPABILITY_WEIGHT, cset.capability(capability))
            classes = scoring.refine_levels(classes, cset.capacity()[1])
            penalties = cset.taints(cp.tolerations).penalties
            by_count: dict[int, list[int]] = {}
            for index, count in penalties.items():
                by_count.setdefault(count, []).append(index)
            for count, members in by_count.items():
                classes = scoring.refine(
                    classes,
                    -filters.PREFER_NO_SCHEDULE_PENALTY * count,
                    bits.from_indices(members, len(cset)),
                )
            self._base = classes
        return self._base

    def classes_for(self, workload_key: str, previous: int) -> scoring.ScoreClasses:
        classes = self.base_classes()
        selector = self.compiled.workload_affinity
        if selector is not None:
            hosts = self.candidates.hosts(selector).excluding(workload_key)
            classes = scoring.refine(classes, scoring.WORKLOAD_AFFINITY_WEIGHT, hosts)
        return scoring.refine(classes, scoring.STICKINESS_BONUS, previous)


@dataclass(frozen=True, slots=True)
class _Attempt:
    group: int
    eligible: int
    rejected: tuple[tuple[str, int], ...]
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class _Outcome:
    status: PlacementStatus
    chosen: int
    group: int | None
    cursor: int
    kept: bool
    note: str
    attempts: tuple[_Attempt, ...]
    eligible_count: int


# -------------------------------------------------------------------- entry points


def decide(
    candidates: CandidateSet | Iterable[ClusterCandidate],
    policy: PlacementPolicy,
    workload: Workload,
    previous: PreviousDecision | Sequence[tuple[str, int]] | None,
    context: DecisionContext,
) -> PlacementResult:
    """Decide where ``workload`` runs. Pure: the same inputs give the same result."""
    prepared = _Prepared(CandidateSet.of(candidates), policy, context.now)
    return _decide_one(prepared, workload, previous, context.round_robin_cursor)


def decide_many(
    candidates: CandidateSet | Iterable[ClusterCandidate],
    policy: PlacementPolicy,
    workloads: Iterable[Workload],
    previous_by_workload: Mapping[str, PreviousDecision | Sequence[tuple[str, int]] | None],
    context: DecisionContext,
) -> BatchResult:
    """Decide every workload of one placement, sorted by key, threading the round-robin cursor.

    Equivalent to calling :func:`decide` per workload in key order with the
    cursor returned by the previous call; workload-independent work is done once.
    Decisions made earlier in the batch are not visible to later workloads'
    workload (anti-)affinity: that is read from ``ClusterCandidate.hosted_workloads``.
    """
    ordered = sorted(workloads, key=lambda w: w.key)
    for a, b in itertools.pairwise(ordered):
        if a.key == b.key:
            raise PlacementValidationError("workloads", f"duplicate workload key {a.key!r}")
    prepared = _Prepared(CandidateSet.of(candidates), policy, context.now)
    cursor = context.round_robin_cursor
    results: dict[str, PlacementResult] = {}
    for workload in ordered:
        result = _decide_one(prepared, workload, previous_by_workload.get(workload.key), cursor)
        cursor = result.round_robin_cursor
        results[workload.key] = result
    return BatchResult(results, cursor)


# ------------------------------------------------------------------------ decision


def _previous(
    candidates: CandidateSet, previous: Sequence[tuple[str, int]] | None
) -> tuple[list[str], list[int | None], int]:
    """Names, positions (``None`` if no longer a candidate) and mask of the previous decision."""
    if not previous:
        return [], [], 0
    names = [name for name, _ in previous]
    positions = list(map(candidates.positions.get, names))
    present = [i for i in positions if i is not None]
    mask = bits.from_indices(present, len(candidates))
    # A repeated candidate collapses in the mask; only missing names need the set.
    if mask.bit_count() != len(present) or (len(present) != len(names) and len(set(names)) != len(names)):
        raise PlacementValidationError("previous", f"cluster listed twice in previous decision: {sorted(names)}")
    return names, positions, mask


def _upper_bound(prepared: _Prepared) -> int | None:
    cp = prepared.compiled
    if cp.max_clusters is not None:
        return cp.max_clusters
    return None if prepared.policy.strategy is Strategy.SPREAD else cp.min_clusters


def _kept_group(prepared: _Prepared, previous: int, count: int) -> int | None:
    """The first location group under which the previous decision is still valid, if any."""
    cp = prepared.compiled
    upper = _upper_bound(prepared)
    if not previous or count < cp.min_clusters or (upper is not None and count > upper):
        return None
    if (
        prepared.policy.strategy is Strategy.SPREAD
        and prepared.policy.replica_division.mode is DivisionMode.DUPLICATED
        and cp.topology_key is not None
    ):
        domains = strategies.domains_of(prepared.candidates, cp.topology_key, previous)
        if division.skew([m.bit_count() for m in domains.values()]) > cp.max_skew:
            return None
    for group in range(len(cp.location_groups)):
        if not previous & ~prepared.existing(group):
            return group
    return None


def _select(
    prepared: _Prepared, workload: Workload, pool: int, survivors: int, previous: int, want: int, cursor: int
) -> Selection:
    cp, policy = prepared.compiled, prepared.policy
    if policy.strategy is Strategy.ROUND_ROBIN:
        penalised = prepared.candidates.taints(cp.tolerations).penalised
        return strategies.round_robin(pool, survivors, want, cursor, penalised)

    def classes() -> scoring.ScoreClasses:
        return prepared.classes_for(workload.key, previous)

    if policy.strategy is Strategy.AFFINITY:
        return strategies.affinity(pool, survivors, want, classes())
    return strategies.spread(
        prepared.candidates,
        pool,
        survivors,
        want,
        classes,
        cp.topology_key,
        policy.replica_division.mode is DivisionMode.DUPLICATED,
        cp.max_skew,
    )


def _place(prepared: _Prepared, workload: Workload, previous: int, cursor: int) -> _Outcome:
    cp = prepared.compiled
    blocked = prepared.anti_blocked(workload.key)
    upper = _upper_bound(prepared)
    attempts = []
    for group in range(len(cp.location_groups)):
        view = prepared.view(group)
        rejected: tuple[tuple[str, int], ...] = tuple((str(code), n) for code, n in view.rejected)
        pool = view.mask & ~blocked
        if view.mask & blocked:
            rejected += ((str(ReasonCode.WORKLOAD_ANTI_AFFINITY), (view.mask & blocked).bit_count()),)
        survivors = previous & prepared.existing(group)
        available = (pool | survivors).bit_count()
        want = min(available, upper if upper is not None else available)
        if want < cp.min_clusters:
            attempts.append(_Attempt(group, available, rejected))
            continue
        selection = _select(prepared, workload, pool, survivors, previous, want, cursor)
        count = selection.chosen.bit_count()
        if count < cp.min_clusters:
            attempts.append(_Attempt(group, available, rejected, f"{selection.note}: only {count} usable"))
            continue
        return _Outcome(
            PlacementStatus.SCHEDULED,
            selection.chosen,
            group,
            cursor if selection.cursor is None else selection.cursor,
            False,
            selection.note,
            tuple(attempts),
            available,
        )
    status = (
        PlacementStatus.NO_ELIGIBLE_CLUSTERS
        if all(a.eligible == 0 for a in attempts)
        else PlacementStatus.UNSCHEDULABLE
    )
    return _Outcome(status, 0, None, cursor, False, "", tuple(attempts), 0)


def _decide_one(
    prepared: _Prepared,
    workload: Workload,
    previous: Sequence[tuple[str, int]] | None,
    cursor: int,
) -> PlacementResult:
    cset = prepared.candidates
    previous_names, looked_up, previous_mask = _previous(cset, previous)
    count = previous_mask.bit_count()
    group = None
    if count == len(previous_names):
        group = _kept_group(prepared, previous_mask, count)
    if group is not None:
        note = "the previous decision is still valid and is kept (no churn)"
        outcome = _Outcome(PlacementStatus.SCHEDULED, previous_mask, group, cursor, True, note, (), count)
    else:
        outcome = _place(prepared, workload, previous_mask, cursor)

    chosen_indices = bits.indices(outcome.chosen)
    replicas = _divide(prepared, outcome.chosen, chosen_indices, workload.replicas)
    decision: Decision = tuple(zip(map(cset.names.__getitem__, chosen_indices), replicas, strict=True))
    lost: tuple[str, ...] = ()
    if previous_mask & ~outcome.chosen or count < len(previous_names):
        lost = tuple(
            sorted(
                name
                for name, i in zip(previous_names, looked_up, strict=True)
                if i is None or not outcome.chosen >> i & 1
            )
        )
    explanations = _Explanations(prepared, workload.key, outcome, previous_mask, decision)
    return PlacementResult(
        workload=workload.key,
        status=outcome.status,
        message=_message(prepared, workload, outcome, decision, lost),
        decision=decision,
        fallback_group=None if outcome.group in (None, 0) else outcome.group - 1,
        round_robin_cursor=outcome.cursor,
        explanations=explanations,
    )


# ------------------------------------------------------------------------- division


def _weights(prepared: _Prepared, clusters: Sequence[ClusterCandidate]) -> list[int] | None:
    """Division weights in cluster order; ``None`` means even."""
    weighting = prepared.policy.replica_division.weighting
    if weighting is Weighting.EVEN:
        return None
    if weighting is Weighting.CAPACITY:
        reported = [c.allocatable_cpu_millis for c in clusters if c.allocatable_cpu_millis is not None]
        if not any(reported):
            return None
        # A cluster that does not report capacity is weighted like an average reporter:
        # neither starved nor favoured.
        fallback = max(1, sum(reported) // len(reported))
        return [fallback if c.allocatable_cpu_millis is None else c.allocatable_cpu_millis for c in clusters]
    weights = []
    for cluster in clusters:
        weight = 0
        for target, value in prepared.compiled.static_weights:
            matched = target == cluster.name if isinstance(target, str) else target.matches(cluster.selectable_labels)
            if matched:
                weight = value
                break
        weights.append(weight)
    return weights


def _even(total: int, count: int) -> list[int]:
    share, extra = divmod(total, count)
    return [share + 1] * extra + [share] * (count - extra)


def _divide(prepared: _Prepared, chosen_mask: int, chosen: Sequence[int], replicas: int) -> list[int]:
    """Replicas per chosen cluster, in ``chosen`` (name) order.

    Written with C-level list operations because a Spread decision can hold
    thousands of clusters.
    """
    if not chosen:
        return []
    policy, cp, cset = prepared.policy, prepared.compiled, prepared.candidates
    if policy.replica_division.mode is DivisionMode.DUPLICATED:
        return [replicas] * len(chosen)
    weighting = policy.replica_division.weighting
    weights = None if weighting is Weighting.EVEN else _weights(prepared, bits.pick(cset.clusters, chosen_mask))
    if policy.strategy is not Strategy.SPREAD:
        return division.largest_remainder(replicas, weights) if weights else _even(replicas, len(chosen))
    if cp.topology_key is None:
        if weights is None:
            return _even(replicas, len(chosen))
        return division.balance(division.largest_remainder(replicas, weights), cp.max_skew)
    if weights is None:
        return _divide_evenly_by_domain(prepared, cp.topology_key, chosen_mask, chosen, replicas)
    domains = [bits.indices(m) for m in strategies.domains_of(cset, cp.topology_key, chosen_mask).values()]
    weight_of = dict(zip(chosen, weights, strict=True))
    member_weights = [list(map(weight_of.__getitem__, members)) for members in domains]
    totals = division.balance(division.largest_remainder(replicas, [sum(w) for w in member_weights]), cp.max_skew)
    share_of: dict[int, int] = {}
    for members, mw, total in zip(domains, member_weights, totals, strict=True):
        share_of.update(zip(members, division.largest_remainder(total, mw), strict=True))
    return list(map(share_of.__getitem__, chosen))


def _divide_evenly_by_domain(
    prepared: _Prepared, topology_key: str, chosen_mask: int, chosen: Sequence[int], replicas: int
) -> list[int]:
    """Even split per domain, then per cluster; equal domain totals are within any maxSkew.

    Every cluster of domain *d* gets ``q_d``, and the first ``e_d`` by name one
    more. Only those few "one more" clusters are touched individually; the rest
    is C-level list work, which matters when a decision spans thousands of clusters.
    """
    ids, values = prepared.candidates.label_ids(topology_key)
    domain_of = list(map(ids.__getitem__, chosen))
    sizes = Counter(domain_of)
    domains = sorted(sizes)
    base: dict[int, int] = {}
    out_extra: list[int] = []
    for domain, total in zip(domains, _even(replicas, len(domains)), strict=True):
        share, extra = divmod(total, sizes[domain])
        base[domain] = share
        if extra:
            members = prepared.candidates.with_label(topology_key, values[domain]) & chosen_mask
            out_extra.extend(bits.lowest(members, extra))
    out = list(map(base.__getitem__, domain_of))
    for index in out_extra:
        out[bisect_left(chosen, index)] += 1
    return out


# ------------------------------------------------------------------------- messages


def _summarise(attempt: _Attempt, prepared: _Prepared) -> str:
    label = prepared.compiled.group_label(attempt.group)
    text = f"{label}: {attempt.eligible} of {len(prepared.candidates)} eligible"
    if attempt.rejected:
        text += " (" + ", ".join(f"{code}: {n}" for code, n in attempt.rejected) + ")"
    if attempt.problem:
        text += f"; {attempt.problem}"
    return text


def _message(
    prepared: _Prepared, workload: Workload, outcome: _Outcome, decision: Decision, lost: tuple[str, ...]
) -> str:
    if not len(prepared.candidates):
        return "no candidate clusters"
    if outcome.status is PlacementStatus.SCHEDULED:
        listed = ", ".join(f"{name}={n}" for name, n in decision[:_LISTED_ASSIGNMENTS])
        if len(decision) > _LISTED_ASSIGNMENTS:
            listed += f", ... (+{len(decision) - _LISTED_ASSIGNMENTS} more)"
        text = (
            f"scheduled {workload.replicas} replica(s) on {len(decision)} cluster(s): {listed}; "
            f"{outcome.eligible_count} of {len(prepared.candidates)} candidate(s) eligible"
        )
        assert outcome.group is not None
        if outcome.group:
            text += f"; using {prepared.compiled.group_label(outcome.group)}"
        if outcome.kept:
            text += "; previous decision kept"
        elif lost:
            text += f"; replaced cluster(s) no longer eligible: {', '.join(lost)}"
        return text
    details = "; ".join(_summarise(a, prepared) for a in outcome.attempts)
    if outcome.status is PlacementStatus.NO_ELIGIBLE_CLUSTERS:
        return f"no eligible clusters: {details}"
    return f"need at least {prepared.compiled.min_clusters} cluster(s) (numberOfClusters.min): {details}"


# --------------------------------------------------------------------- explanations


class _Explanations(Mapping[str, ClusterExplanation]):
    """Per-cluster explanations, computed on first access (a decision touches all
    clusters only in bulk; formatting thousands of messages nobody reads would
    dominate its cost)."""

    __slots__ = ("_cache", "_decision", "_outcome", "_prepared", "_previous", "_replicas", "_workload_key")

    def __init__(
        self,
        prepared: _Prepared,
        workload_key: str,
        outcome: _Outcome,
        previous: int,
        decision: Decision,
    ) -> None:
        self._prepared = prepared
        self._workload_key = workload_key
        self._outcome = outcome
        self._previous = previous
        self._decision = decision
        self._replicas: dict[str, int] | None = None
        self._cache: dict[str, ClusterExplanation] = {}

    def __len__(self) -> int:
        return len(self._prepared.candidates)

    def __iter__(self) -> Iterator[str]:
        return (c.name for c in self._prepared.candidates.clusters)

    def __contains__(self, name: object) -> bool:
        return name in self._prepared.candidates

    def __repr__(self) -> str:
        return f"<explanations for {len(self)} cluster(s)>"

    def __getitem__(self, name: str) -> ClusterExplanation:
        explanation = self._cache.get(name)
        if explanation is None:
            cluster = self._prepared.candidates.get(name)
            if cluster is None:
                raise KeyError(name)
            explanation = self._cache[name] = self._explain(cluster)
        return explanation

    def _explain(self, cluster: ClusterCandidate) -> ClusterExplanation:
        if self._replicas is None:
            self._replicas = dict(self._decision)
        replicas = self._replicas
        prepared, outcome = self._prepared, self._outcome
        group = outcome.group if outcome.group is not None else 0
        result = filters.evaluate(cluster, prepared.compiled, group, self._workload_key, prepared.now)
        in_previous = bool(self._previous >> self._prepared.candidates.positions[cluster.name] & 1)
        eligible = result.allows_existing if in_previous else result.allows_new
        selected = cluster.name in replicas
        score = None
        if eligible:
            score = scoring.breakdown(
                cluster, prepared.compiled, prepared.capacity_max, self._workload_key, in_previous
            )
        reasons = list(result.reasons)
        if selected:
            why = "kept from the previous decision" if in_previous else "chosen"
            reasons.append(Reason(ReasonCode.SELECTED, f"selected: {why}", ReasonEffect.INFO))
        elif eligible:
            why = outcome.note if outcome.status is PlacementStatus.SCHEDULED else "the placement is not schedulable"
            reasons.append(Reason(ReasonCode.NOT_SELECTED, f"not selected: {why}", ReasonEffect.INFO))
        return ClusterExplanation(
            cluster=cluster.name,
            eligible=eligible,
            selected=selected,
            replicas=replicas.get(cluster.name),
            reasons=tuple(reasons),
            score=score,
        )
