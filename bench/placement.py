"""Benchmark of the pure placement engine (``tmc.placement``).

Run: ``.venv/bin/python bench/placement.py [--quick]``

Reports, per strategy and cluster count (100 / 1,000 / 10,000):

* **warm** - ``decide`` against a prebuilt :class:`CandidateSet`, the way a
  controller uses it (one set per cluster-set change, many decisions). Each
  decision is for a new workload with no previous decision, so it does the full
  filter / select / divide work; only the per-set indexes are reused.
* **cold** - ``decide`` from a plain list of clusters, so every call also sorts
  and indexes the candidates.
* **cpu p99** - the warm p99 in CPU time of the calling thread: on a shared
  machine the wall-clock tail is mostly time spent descheduled (and GC).

Then ``decide_many`` for 1,000 workloads on one placement over 1,000 clusters,
and peak memory (tracemalloc, plus the process's max RSS).

The cluster fleet is synthetic but shaped like a real one: 4 regions x 3
zones, a few label dimensions, ~3% NotReady, ~5% tainted, ~90% with compute.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tmc.placement import (
    Affinity,
    CandidateSet,
    CapabilityRequirement,
    ClusterCandidate,
    DecisionContext,
    HostedWorkload,
    LabelSelector,
    LabelSelectorRequirement,
    NumberOfClusters,
    PlacementPolicy,
    PlacementStatus,
    PreferredTerm,
    SelectorOperator,
    Strategy,
    Taint,
    TaintEffect,
    Workload,
    decide,
    decide_many,
)

REGIONS = {"us-west": 4, "us-east": 3, "eu-central": 2, "ap-south": 1}  # relative fleet share
ZONES = ("a", "b", "c")
NOW = 1_700_000_000.0


def fleet(size: int, seed: int = 7) -> list[ClusterCandidate]:
    rng = random.Random(seed)
    regions = [r for r, share in REGIONS.items() for _ in range(share)]
    clusters = []
    for i in range(size):
        region = rng.choice(regions)
        zone = rng.choice(ZONES)
        ready = rng.random() > 0.03
        taints: tuple[Taint, ...] = ()
        roll = rng.random()
        if roll < 0.03:
            taints = (Taint("dedicated", "gpu", TaintEffect.NO_SCHEDULE),)
        elif roll < 0.05:
            taints = (Taint("spot", "", TaintEffect.PREFER_NO_SCHEDULE),)
        capabilities = {"compute"} if rng.random() < 0.9 else set()
        if rng.random() < 0.5:
            capabilities.add("storage")
        hosted: tuple[HostedWorkload, ...] = ()
        if rng.random() < 0.1:
            hosted = (HostedWorkload(f"ns/db-{rng.randrange(50)}", {"app": "db"}),)
        clusters.append(
            ClusterCandidate(
                name=f"cluster-{i:05d}",
                location=f"{region}-{zone}",
                labels={"region": region, "zone": zone, "tier": rng.choice(("gold", "silver", "bronze"))},
                effective_capabilities=frozenset(capabilities),
                ready=ready,
                not_ready_since=None if ready else NOW - rng.randrange(3600),
                taints=taints,
                allocatable_cpu_millis=rng.randrange(4_000, 256_000),
                allocatable_memory_bytes=rng.randrange(8, 1024) * 2**30,
                hosted_workloads=hosted,
            )
        )
    rng.shuffle(clusters)
    return clusters


def policies() -> dict[str, PlacementPolicy]:
    west = LabelSelector({"region": "us-west"})
    americas = LabelSelector(
        match_expressions=(LabelSelectorRequirement("region", SelectorOperator.IN, ("us-west", "us-east")),)
    )
    compute = (CapabilityRequirement("compute"),)
    return {
        "RoundRobin": PlacementPolicy(
            Strategy.ROUND_ROBIN, location_selector=americas, capability_requirements=compute
        ),
        "Affinity": PlacementPolicy(
            Strategy.AFFINITY,
            location_selector=americas,
            capability_requirements=compute,
            number_of_clusters=NumberOfClusters(1, 3),
            affinity=Affinity(
                required=(LabelSelector({"tier": "gold"}), LabelSelector({"tier": "silver"})),
                preferred=(PreferredTerm(50, LabelSelector({"zone": "a"})), PreferredTerm(20, west)),
                workload_anti_affinity=LabelSelector({"app": "db"}),
            ),
        ),
        "Spread(max=6)": PlacementPolicy(
            Strategy.SPREAD,
            location_selector=americas,
            capability_requirements=compute,
            number_of_clusters=NumberOfClusters(1, 6),
        ),
        "Spread(all)": PlacementPolicy(Strategy.SPREAD, location_selector=west, capability_requirements=compute),
    }


def percentile(samples: Sequence[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def timed(fn: Callable[[int], object], runs: int) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU (this thread) milliseconds per call.

    CPU time is reported too because on a shared machine wall-clock tails are
    mostly time spent descheduled, not work done.
    """
    wall, cpu = [], []
    for i in range(runs):
        start, start_cpu = time.perf_counter(), time.thread_time()
        fn(i)
        cpu.append((time.thread_time() - start_cpu) * 1000)
        wall.append((time.perf_counter() - start) * 1000)
    return wall, cpu


def _decider(candidates: CandidateSet | list[ClusterCandidate], policy: PlacementPolicy) -> Callable[[int], object]:
    def run(i: int) -> object:
        return decide(candidates, policy, Workload(f"ns/w{i}", 12), None, DecisionContext(NOW, i))

    return run


@dataclass(frozen=True)
class DecisionFigures:
    """One strategy at one fleet size: decision time in milliseconds."""

    strategy: str
    clusters: int
    chosen: int
    warm_p50: float
    warm_p99: float
    cpu_p99: float
    cold_p50: float
    cold_p99: float


def measure_decisions(sizes: Sequence[int], warm_runs: int, cold_runs: int) -> list[DecisionFigures]:
    """Per size and strategy; ``cold_runs`` applies at 10,000 clusters and up (smaller fleets use ``warm_runs``)."""
    figures = []
    for size in sizes:
        clusters = fleet(size)
        candidates = CandidateSet(clusters)
        for name, policy in policies().items():
            warm = _decider(candidates, policy)
            cold = _decider(clusters, policy)

            result = decide(candidates, policy, Workload("ns/probe", 12), None, DecisionContext(NOW))
            assert result.status is PlacementStatus.SCHEDULED, result.message
            warm(0)  # fill the set's lazy indexes once, as a long-lived controller would have
            w, w_cpu = timed(warm, warm_runs)
            c, _ = timed(cold, cold_runs if size >= 10_000 else warm_runs)
            figures.append(
                DecisionFigures(
                    strategy=name,
                    clusters=size,
                    chosen=len(result.decision),
                    warm_p50=percentile(w, 0.5),
                    warm_p99=percentile(w, 0.99),
                    cpu_p99=percentile(w_cpu, 0.99),
                    cold_p50=percentile(c, 0.5),
                    cold_p99=percentile(c, 0.99),
                )
            )
    return figures


def bench_decisions(sizes: Sequence[int], warm_runs: int, cold_runs: int) -> list[DecisionFigures]:
    print(
        f"{'strategy':<14} {'clusters':>8} {'chosen':>7} | {'warm p50':>9} {'warm p99':>9} {'cpu p99':>8} | "
        f"{'cold p50':>9} {'cold p99':>9}   (ms)"
    )
    figures = measure_decisions(sizes, warm_runs, cold_runs)
    for f in figures:
        print(
            f"{f.strategy:<14} {f.clusters:>8} {f.chosen:>7} | {f.warm_p50:>9.3f} {f.warm_p99:>9.3f} "
            f"{f.cpu_p99:>8.3f} | {f.cold_p50:>9.3f} {f.cold_p99:>9.3f}"
        )
    return figures


def bench_batch(workload_count: int, cluster_count: int) -> None:
    clusters = fleet(cluster_count)
    workloads = [Workload(f"ns/app-{i:04d}", 1 + i % 7) for i in range(workload_count)]
    print(f"\ndecide_many: {workload_count} workloads, one placement, {cluster_count} clusters")
    for name, policy in policies().items():
        start = time.perf_counter()
        candidates = CandidateSet(clusters)
        batch = decide_many(candidates, policy, workloads, {}, DecisionContext(NOW))
        total = (time.perf_counter() - start) * 1000
        previous = {key: r.decision for key, r in batch.results.items()}
        start = time.perf_counter()
        decide_many(candidates, policy, workloads, previous, DecisionContext(NOW, batch.round_robin_cursor))
        steady = (time.perf_counter() - start) * 1000
        print(
            f"  {name:<14} first placement {total:8.1f} ms ({total / workload_count * 1000:6.1f} us/workload)"
            f" | re-decide with previous {steady:8.1f} ms ({steady / workload_count * 1000:6.1f} us/workload)"
        )


def bench_memory(size: int) -> None:
    clusters = fleet(size)
    tracemalloc.start()
    candidates = CandidateSet(clusters)
    for name, policy in policies().items():
        result = decide(candidates, policy, Workload("ns/m", 12), None, DecisionContext(NOW))
        assert result.status is PlacementStatus.SCHEDULED, name
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    maxrss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        f"\npeak memory: {peak / 2**20:.1f} MiB traced for a {size}-cluster CandidateSet + one decision per "
        f"strategy (cluster objects excluded); process max RSS {maxrss_kib / 1024:.0f} MiB"
    )


SIZES = (100, 1_000, 10_000)


def runs(quick: bool) -> tuple[int, int]:
    """Warm runs per (size, strategy), and cold runs at 10,000 clusters."""
    return (30, 5) if quick else (300, 30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs (for CI smoke tests)")
    args = parser.parse_args()
    warm_runs, cold_runs = runs(args.quick)
    print(f"python {sys.version.split()[0]}, {warm_runs} warm / {cold_runs} cold runs at 10k\n")
    bench_decisions(SIZES, warm_runs, cold_runs)
    bench_batch(1_000, 1_000)
    bench_memory(10_000)
    print(f"(load average {', '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
