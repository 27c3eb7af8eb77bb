"""Every benchmark figure in one run, each beside the anchor figure it answers, and the machine it ran on.

    flock /tmp/tmc-e2e.lock .venv/bin/python -m bench [--quick] [--output FILE]

Stages, each reusing a bench of this folder as a module (a stage that fails is reported and the others still
run; the exit status is then 1):

1. ``placement``: the pure engine's decision time at 100 / 1,000 / 10,000 clusters (``bench/placement.py``).
2. ``sync``: one set of servers (``bench/sync.py``'s session): the floor, then N Deployments over W workspaces
   and C clusters: create -> on-cluster latency beside the floor, convergence, status latency under load, the
   controller's RSS and CPU; then status latency at rest (``bench/status_latency.py``); then failover
   (``bench/failover.py``), which stops a cluster and so comes last.
3. ``registrations``: R ClusterRegistrations: controller start -> all Ready (``bench/cluster_registrations.py``).

Full size (the default): 1,000 workloads / 20 workspaces / 3 clusters, 1,000 registrations; it needs an idle
machine. ``--quick`` is a smoke run (20 workloads / 2 workspaces / 2 clusters, 20
registrations) whose figures mean nothing; it writes its report to a temporary file unless ``--output`` says
otherwise, so ``bench/RESULTS.md`` only ever holds a full run.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import math
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from rich.console import Console
from rich.table import Table

from bench import cluster_registrations, failover, placement, status_latency, sync
from tmc.local.binaries import ensure_binaries, repo_root

console = Console(width=160)
T = TypeVar("T")

# What the anchors report (see /work/shared/ANCHORS.md and the issues named).
KARMADA_SCHEDULING = "Karmada scheduling P50 / P99 12 / 32 ms (v1.3 test report: 100 clusters, 500k nodes)"
KARMADA_DISTRIBUTION = "Karmada distribution P99 1.3 s, push mode (v1.3 test report)"
KARMADA_1000_OBJECTS = "Karmada: 1000+ objects ~15 min to propagate (karmada#3108); ~20 min after a restart (#5978)"
KARMADA_WORK_RATE = "Karmada ~200 Work/s (karmada#7062)"
KARMADA_MEMORY = "Karmada controller 1-3 GB (karmada#4738)"
KARMADA_FAILOVER = (
    "Karmada defaults: Ready=False after 30 s, then NoExecute taint toleration 300 s before eviction (>= 330 s)"
)
KARMADA_CLUSTERS = "Karmada v1.3 test report: 100 clusters; cluster status every 10 s"
NO_ANCHOR = "none published"


@dataclass(frozen=True)
class Sizes:
    workloads: int
    workspaces: int
    clusters: int
    floor_samples: int
    status_probes: int
    registrations: int
    registration_workspaces: int
    registration_clusters: int


FULL = Sizes(1000, 20, 3, 100, 100, 1000, 20, 3)
QUICK = Sizes(20, 2, 2, 10, 5, 20, 2, 1)


@dataclass
class Row:
    measure: str
    value: str
    anchor: str = ""


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def add(self, measure: str, value: str, anchor: str = "") -> None:
        self.rows.append(Row(measure, value, anchor))

    def failed(self, stage: str, error: BaseException) -> None:
        self.failures.append(f"{stage}: {type(error).__name__}: {error}")
        self.add(f"{stage}: NOT MEASURED", f"{type(error).__name__}: {error}")


def ms(value: float) -> str:
    if math.isnan(value):
        return "not measured"
    return f"{value:.3f} ms" if value < 1 else f"{value:,.1f} ms" if value < 100 else f"{value:,.0f} ms"


def seconds(value: float) -> str:
    return "not reached" if math.isnan(value) else f"{value:,.1f} s"


# -- stages ------------------------------------------------------------------------------------------------


def placement_stage(report: Report, quick: bool) -> None:
    warm_runs, cold_runs = placement.runs(quick)
    console.rule("placement")
    measured = placement.bench_decisions(placement.SIZES, warm_runs, cold_runs)
    for size in placement.SIZES:
        rows = [f for f in measured if f.clusters == size]
        slowest = max(rows, key=lambda f: f.warm_p99)
        report.add(
            f"placement decision p50 / p99, {size:,} clusters (slowest of {len(rows)} strategies: {slowest.strategy})",
            f"{ms(slowest.warm_p50)} / {ms(slowest.warm_p99)} (CPU p99 {ms(slowest.cpu_p99)})",
            KARMADA_SCHEDULING,
        )


async def sync_stage(report: Report, sizes: Sizes, timeout: float) -> None:
    options = sync.Options(
        workloads=sizes.workloads,
        workspaces=sizes.workspaces,
        clusters=sizes.clusters,
        replicas=1,
        nodes=None,
        create_concurrency=10,
        floor_samples=sizes.floor_samples,
        timeout=timeout,
        keep=False,
    )
    console.rule(f"sync: {sizes.workloads} workloads / {sizes.workspaces} workspaces / {sizes.clusters} clusters")
    async with sync.session(options) as s:
        result = await sync.run_workloads(s)
        sync.report(options, s.floor, result)
        f = sync.figures(options, s.floor, result)
        size = f"{f.workloads:,} workloads / {f.workspaces} workspaces / {f.clusters} clusters"
        report.add(
            "floor p50 / p99: a kcp create + a direct create on a cluster, idle, same run",
            f"{ms(f.floor_p50)} / {ms(f.floor_p99)}",
        )
        report.add(
            f"create -> on cluster p50 / p99 ({size})",
            f"{ms(f.p50)} / {ms(f.p99)} = {f.p50_ratio:,.1f}x / {f.p99_ratio:,.1f}x the floor"
            + ("" if f.copies_seen == f.workloads else f" ({f.copies_seen}/{f.workloads} seen)"),
            KARMADA_DISTRIBUTION,
        )
        if f.rest_samples:
            report.add(
                f"create -> on cluster at rest p50 / p99 (one workload at a time, {f.rest_samples} after convergence)",
                f"{ms(f.rest_p50)} / {ms(f.rest_p99)} = {f.rest_p50 / f.floor_p50:,.1f}x / "
                f"{f.rest_p99 / f.floor_p99:,.1f}x the floor",
                KARMADA_DISTRIBUTION,
            )
        report.add(
            "status under load p50 / p99: copy rolled out on its cluster -> the tenant's object shows it",
            f"{ms(f.status_p50)} / {ms(f.status_p99)} ({f.status_samples} workloads)",
            NO_ANCHOR,
        )
        report.add(
            f"converge: first create -> every binding Applied ({size})",
            seconds(f.converged_s) + ("" if f.converged == f.workloads else f" ({f.converged}/{f.workloads})"),
            KARMADA_1000_OBJECTS,
        )
        report.add(
            "converge: first create -> every tenant's object rolled out",
            seconds(f.tenants_ready_s)
            + ("" if f.tenants_ready == f.workloads else f" ({f.tenants_ready}/{f.workloads})"),
        )
        rate = f.workloads / f.converged_s if f.converged_s > 0 else math.nan
        report.add("throughput: workloads placed and applied per second", f"{rate:,.1f}/s", KARMADA_WORK_RATE)
        report.add(
            f"controller peak RSS ({size})",
            f"{f.rss_peak_mb:,.0f} MB",
            KARMADA_MEMORY,
        )
        report.add(
            "controller CPU from first create to converged",
            f"{f.cpu_s:,.1f} s over {f.window_s:,.1f} s ({f.cpu_s / f.window_s:.0%} of one core)",
        )

        status = await status_latency.measure(s, result.observations, sizes.status_probes)
        report.add(
            "status at rest p50 / p99: a copy's status written on its cluster -> the tenant's object shows it",
            f"{ms(status.p50)} / {ms(status.p99)} ({len(status.latencies_ms)} probes"
            + (f", {status.missed} not shown in 60 s)" if status.missed else ")"),
            NO_ANCHOR,
        )

        lost = await failover.measure(s, result.observations, timeout=timeout)
        report.add(
            f"failover: cluster stopped -> its {lost.workloads} workloads Ready elsewhere, p50 / all"
            f" (heartbeat {lost.heartbeat_s:g} s, grace {lost.grace_s:g} s)",
            f"{seconds(lost.p50)} / {seconds(lost.all_s)}; its copies shown Unknown after {seconds(lost.lost_s)}"
            + ("" if len(lost.ready_s) == lost.workloads else f" ({len(lost.ready_s)}/{lost.workloads})"),
            KARMADA_FAILOVER,
        )


async def registrations_stage(report: Report, sizes: Sizes) -> None:
    console.rule(f"registrations: {sizes.registrations} over {sizes.registration_workspaces} workspaces")
    f = await cluster_registrations.measure(
        sizes.registrations,
        sizes.registration_workspaces,
        sizes.registration_clusters,
        heartbeat=sync.HEARTBEAT_S,
        status_period=300.0,
        idle=0,
    )
    report.add(
        f"registrations: controller start -> {f.registrations:,} Ready ({f.workspaces} workspaces;"
        f" kubeconfigs of {f.clusters} live cluster{'s' if f.clusters != 1 else ''})",
        f"{f.ready_s:,.1f} s" + ("" if f.ready == f.registrations else f" ({f.ready}/{f.registrations} Ready)"),
        KARMADA_CLUSTERS,
    )
    report.add(
        f"controller with {f.registrations:,} registrations: peak RSS, CPU since start",
        f"{f.rss_peak_mb:,.0f} MB, {f.cpu_s:,.1f} s",
        KARMADA_MEMORY,
    )


# -- the machine -------------------------------------------------------------------------------------------


def _first(path: str, prefix: str) -> str:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip() if ":" in line else line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "unknown"


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo_root(), capture_output=True, text=True, check=False)
    return done.stdout.strip() if done.returncode == 0 else "unknown"


def server_versions() -> str:
    """From the binaries' names (``<name>-<version>``, see hack/build-binaries); only once servers ran, so
    asking never builds anything."""
    try:
        binaries = ensure_binaries()
    except Exception as error:  # the report says so rather than failing
        return f"unknown ({error})"
    named = {
        "kcp": binaries.kcp,
        "kube-apiserver": binaries.kube_apiserver,
        "etcd": binaries.etcd,
        "kwok": binaries.kwok,
    }
    return ", ".join(f"{name} {path.name.removeprefix(name + '-')}" for name, path in named.items())


def machine(started: datetime.datetime, load_before: tuple[float, ...], servers_ran: bool) -> list[tuple[str, str]]:
    memory_kib = _first("/proc/meminfo", "MemTotal").split()[0]
    changed = _git("status", "--porcelain", "--untracked-files=no", "--", "src", "bench")
    return [
        ("CPU", _first("/proc/cpuinfo", "model name")),
        ("cores", f"{os.cpu_count()} logical, {len(os.sched_getaffinity(0))} usable by this process"),
        ("memory", f"{int(memory_kib) / 2**20:.1f} GiB" if memory_kib.isdigit() else "unknown"),
        ("OS", f"{_first('/etc/os-release', 'PRETTY_NAME=')}, Linux {platform.release()}"),
        ("Python", f"{platform.python_version()} ({platform.python_implementation()})"),
        ("servers", server_versions() if servers_ran else "not started"),
        ("date", started.strftime("%Y-%m-%d %H:%M UTC")),
        ("commit", _git("rev-parse", "HEAD") + (" with local changes to src/ or bench/" if changed else "")),
        (
            "load average",
            f"{', '.join(f'{x:.2f}' for x in load_before)} before; "
            f"{', '.join(f'{x:.2f}' for x in os.getloadavg())} after (1 / 5 / 15 min)",
        ),
    ]


# -- output ------------------------------------------------------------------------------------------------


def print_table(report: Report, title: str) -> None:
    table = Table(title=title, show_lines=True)
    table.add_column("measure", ratio=4)
    table.add_column("TMC", ratio=3)
    table.add_column("anchor", ratio=3)
    for row in report.rows:
        table.add_row(row.measure, row.value, row.anchor)
    console.print(table)


def markdown(report: Report, title: str, command: str, about: list[tuple[str, str]], took: float) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = [
        "# Benchmark results",
        "",
        f"{title}. Written by `{command}` in {took / 60:.1f} min; what each figure measures: "
        "[docs/benchmarks.md](../docs/benchmarks.md).",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        *(f"| {name} | {cell(value)} |" for name, value in about),
        "",
        "## Figures",
        "",
        "| measure | TMC | anchor |",
        "|---|---|---|",
        *(f"| {cell(r.measure)} | {cell(r.value)} | {cell(r.anchor)} |" for r in report.rows),
        "",
    ]
    if report.failures:
        lines += ["## Stages that failed", "", *(f"- {cell(f)}" for f in report.failures), ""]
    return "\n".join(lines)


# -- the run -----------------------------------------------------------------------------------------------


async def _stage(report: Report, name: str, run: Callable[[], Awaitable[T]]) -> T | None:
    try:
        return await run()
    except (Exception, SystemExit) as error:  # the helpers exit with a message when a server or the controller dies
        console.print(f"[red]stage {name} failed[/red]")
        traceback.print_exc()
        report.failed(name, error)
        return None


async def run(sizes: Sizes, stages: list[str], quick: bool, timeout: float) -> Report:
    report = Report()
    if "placement" in stages:

        async def decide() -> None:
            placement_stage(report, quick)

        await _stage(report, "placement", decide)
    if "sync" in stages:
        await _stage(report, "sync", lambda: sync_stage(report, sizes, timeout))
    if "registrations" in stages:
        await _stage(report, "registrations", lambda: registrations_stage(report, sizes))
    return report


STAGES = ("placement", "sync", "registrations")


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smoke-run sizes (figures mean nothing)")
    parser.add_argument(
        "--output", type=Path, default=None, help="report file (default: bench/RESULTS.md, or a temp file with --quick)"
    )
    parser.add_argument("--only", default=",".join(STAGES), help=f"comma-separated stages of {', '.join(STAGES)}")
    parser.add_argument("--workloads", type=int, default=None, help="override the sync stage's workload count")
    parser.add_argument("--workspaces", type=int, default=None, help="override the sync stage's workspace count")
    parser.add_argument("--clusters", type=int, default=None, help="override the sync stage's cluster count (>= 2)")
    parser.add_argument("--registrations", type=int, default=None, help="override the registration count")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds a convergence or failover may take")
    args = parser.parse_args()
    stages = [s.strip() for s in args.only.split(",") if s.strip()]
    if unknown := set(stages) - set(STAGES):
        parser.error(f"unknown stage(s) {', '.join(sorted(unknown))}; choose from {', '.join(STAGES)}")
    base = QUICK if args.quick else FULL
    sizes = Sizes(
        workloads=args.workloads or base.workloads,
        workspaces=args.workspaces or base.workspaces,
        clusters=args.clusters or base.clusters,
        floor_samples=base.floor_samples,
        status_probes=base.status_probes,
        registrations=args.registrations or base.registrations,
        registration_workspaces=base.registration_workspaces,
        registration_clusters=base.registration_clusters,
    )
    if sizes.clusters < 2:
        parser.error("--clusters must be >= 2: failover needs a cluster to move to")
    output = args.output or (
        Path(tempfile.gettempdir()) / "tmc-bench-RESULTS-quick.md"
        if args.quick
        else Path(__file__).with_name("RESULTS.md")
    )
    command = shlex.join(["python", "-m", "bench", *sys.argv[1:]])
    title = "Smoke run (--quick): sizes too small for the figures to mean anything" if args.quick else "Full run"
    if set(stages) != set(STAGES):
        title += f"; stages {', '.join(stages)} only"

    started = datetime.datetime.now(datetime.UTC)
    load_before = os.getloadavg()
    clock = time.monotonic()
    report = asyncio.run(run(sizes, stages, args.quick, args.timeout))
    took = time.monotonic() - clock
    about = machine(started, load_before, servers_ran=bool({"sync", "registrations"} & set(stages)))

    console.rule("results")
    print_table(report, title)
    for name, value in about:
        console.print(f"{name}: {value}")
    output.write_text(markdown(report, title, command, about, took))
    console.print(f"written: {output}")
    return 1 if report.failures else 0
