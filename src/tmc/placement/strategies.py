"""Cluster selection per strategy, over bitsets of eligible clusters.

Every strategy receives the same inputs: ``pool`` (clusters that may receive
the workload now), ``survivors`` (clusters of the previous decision that may
keep it), and ``want`` (how many clusters to end up with). Survivors are always
taken first - that is what "replace only what broke" means - and only the
shortfall is filled from the pool:

* **RoundRobin** walks the pool in name order from ``cursor % len(pool)`` and
  returns the position after its last pick as the new cursor. Clusters with an
  untolerated PreferNoSchedule taint are skipped while the rest can satisfy
  the request (RoundRobin has no scores, so this is how the penalty applies).
* **Affinity** takes the best ``(-score, name)``.
* **Spread** fills topology domains round-robin, fewest-picked domain first
  (ties: best next score, then domain name), so the chosen clusters cover as
  many domains as the cluster budget allows. In Duplicated mode every cluster
  receives every replica, so balance is in clusters: a domain may hold at most
  ``max_skew`` more chosen clusters than the least-populated covered domain.
  Without a topology key each cluster is its own domain, which reduces to
  Affinity's ordering.

``max_skew`` is measured over the domains a decision covers. Because domains
are filled breadth-first, that is every domain with an eligible cluster
whenever ``numberOfClusters.max`` allows one cluster per domain; a smaller
budget leaves some domains out rather than making the placement unschedulable.
A kept decision is not re-spread when a new domain appears (no churn).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from tmc.placement import bits
from tmc.placement.index import CandidateSet
from tmc.placement.scoring import ScoreClasses, ranked


@dataclass(frozen=True, slots=True)
class Selection:
    chosen: int
    cursor: int | None
    """New round-robin cursor; ``None`` leaves the input cursor unchanged."""
    note: str
    """Why eligible clusters outside the selection were passed over."""


def _best(classes: ScoreClasses, within: int, count: int) -> int:
    mask = 0
    if count <= 0:
        return 0
    for taken, (_, i) in enumerate(ranked(classes, within), start=1):
        mask |= 1 << i
        if taken == count:
            break
    return mask


def round_robin(pool: int, survivors: int, want: int, cursor: int, penalised: int) -> Selection:
    kept = bits.lowest(survivors, want)
    chosen = 0
    for i in kept:
        chosen |= 1 << i
    need = want - len(kept)
    if need <= 0:
        return Selection(chosen, None, "the previous clusters still fill the requested number of clusters")
    preferred = pool & ~penalised
    tier = preferred if (preferred & ~chosen).bit_count() >= need else pool
    size = tier.bit_count()
    start = cursor % size
    # Walk the tier in name order from the start position, wrapping once,
    # without materialising the whole (possibly 10k-long) list.
    i = bits.nth(tier, start)
    position = start
    while True:
        if not chosen >> i & 1:
            chosen |= 1 << i
            need -= 1
            if not need:
                break
        following = bits.next_set(tier, i + 1)
        i = following if following is not None else (tier & -tier).bit_length() - 1
        position = (position + 1) % size
    new_cursor = (position + 1) % size
    note = f"round-robin started at position {start} of {size} eligible cluster(s) (cursor {cursor})"
    return Selection(chosen, new_cursor, note)


def affinity(pool: int, survivors: int, want: int, classes: ScoreClasses) -> Selection:
    chosen = _best(classes, survivors, want)
    chosen |= _best(classes, pool & ~chosen, want - chosen.bit_count())
    return Selection(chosen, None, f"lower score than the {want} selected cluster(s) (ties broken by name)")


def _fill(
    domains: dict[str, int],
    source: int,
    chosen: int,
    picks: dict[str, int],
    budget: int,
    classes: ScoreClasses,
) -> int:
    iterators: dict[str, Iterator[tuple[int, int]]] = {}
    heads: dict[str, tuple[int, int]] = {}
    heap: list[tuple[int, int, str]] = []
    for domain, members in domains.items():
        iterator = ranked(classes, members & source & ~chosen)
        head = next(iterator, None)
        if head is not None:
            iterators[domain], heads[domain] = iterator, head
            heap.append((picks[domain], -head[0], domain))
    heapq.heapify(heap)
    while budget > 0 and heap:
        _, _, domain = heapq.heappop(heap)
        chosen |= 1 << heads[domain][1]
        picks[domain] += 1
        budget -= 1
        head = next(iterators[domain], None)
        if head is not None:
            heads[domain] = head
            heapq.heappush(heap, (picks[domain], -head[0], domain))
    return chosen


def domains_of(candidates: CandidateSet, topology_key: str, within: int) -> dict[str, int]:
    """``domain value -> members of within``, for non-empty domains, in domain-name order."""
    out = {}
    for value in candidates.label_values(topology_key):
        members = candidates.with_label(topology_key, value) & within
        if members:
            out[value] = members
    return out


def spread(
    candidates: CandidateSet,
    pool: int,
    survivors: int,
    want: int,
    scores: Callable[[], ScoreClasses],
    topology_key: str | None,
    duplicated: bool,
    max_skew: int,
) -> Selection:
    everything = pool | survivors
    if want >= everything.bit_count() and not (duplicated and topology_key is not None):
        return Selection(everything, None, "")
    classes = scores()
    if topology_key is None:
        selection = affinity(pool, survivors, want, classes)
        return Selection(selection.chosen, None, f"numberOfClusters allows {want} cluster(s); lower score")
    domains = domains_of(candidates, topology_key, everything)
    if want >= everything.bit_count():
        chosen = everything
    else:
        picks = dict.fromkeys(domains, 0)
        chosen = _fill(domains, survivors, 0, picks, want, classes)
        chosen = _fill(domains, pool, chosen, picks, want - chosen.bit_count(), classes)
    note = f"numberOfClusters allows {want} cluster(s) spread over {len(domains)} domain(s) of {topology_key}"
    if duplicated:
        chosen = _cap_domains(domains, chosen, survivors, classes, max_skew)
        if chosen.bit_count() < want:
            note = f"maxSkew {max_skew} caps clusters per domain of {topology_key} (Duplicated mode)"
    return Selection(chosen, None, note)


def _cap_domains(domains: dict[str, int], chosen: int, survivors: int, classes: ScoreClasses, max_skew: int) -> int:
    counts = {d: (members & chosen).bit_count() for d, members in domains.items()}
    covered = [c for c in counts.values() if c]
    if not covered:
        return chosen
    cap = min(covered) + max_skew
    for domain, count in counts.items():
        if count > cap:
            members = domains[domain] & chosen
            keep = _best(classes, members & survivors, cap)
            keep |= _best(classes, members & ~keep, cap - keep.bit_count())
            chosen = (chosen & ~members) | keep
    return chosen
