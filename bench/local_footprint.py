"""Bench: the footprint of the embedded default's servers: kcp + the 3 live clusters of `tmc up`, idle.

Starts kcp and the default clusters (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok and
their nodes), lets them settle, then reports the summed RSS of every server process and their CPU use over an
idle window, as a share of one core and of the machine. The issue's target: < 4 GiB and < 20% idle CPU on a
2-core machine. TMC's own controller is not included (bench/cluster_registrations.py and bench/sync.py
report it).

    .venv/bin/python bench/local_footprint.py [--settle 30] [--window 60]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

from tmc.local.environment import DEFAULT_CLUSTERS, LocalEnvironment

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _descendants(pids: list[int]) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, stack = [], list(pids)
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(children.get(pid, []))
    return found


def _rss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])


async def main(settle: float, window: float) -> None:
    with tempfile.TemporaryDirectory(prefix="tmc-footprint-") as state:
        started = time.monotonic()
        async with LocalEnvironment(Path(state), dict(DEFAULT_CLUSTERS)) as environment:
            print(f"kcp + {len(environment.clusters)} live clusters up in {time.monotonic() - started:.1f}s")
            await asyncio.sleep(settle)  # a bench's idle period, not synchronisation
            kcp = environment.kcp.process
            roots = [pid for c in environment.clusters.values() for pid in c.pids()]
            if kcp is not None and kcp.pid:
                roots.append(kcp.pid)
            pids = _descendants(roots)
            before = {pid: _cpu_ticks(pid) for pid in pids}
            t0 = time.monotonic()
            await asyncio.sleep(window)
            elapsed = time.monotonic() - t0
            used = sum(_cpu_ticks(pid) - before[pid] for pid in pids) / CLOCK_TICKS
            rss = sum(_rss_bytes(pid) for pid in pids)
            cores = os.cpu_count() or 1
            print(f"processes: {len(pids)}")
            print(f"RSS total: {rss / 2**30:.2f} GiB (target < 4 GiB: {'MET' if rss < 4 * 2**30 else 'NOT MET'})")
            share = used / elapsed
            print(
                f"idle CPU over {elapsed:.0f}s: {share * 100:.1f}% of one core, {share / cores * 100:.1f}% of the"
                f" machine's {cores} cores (target < 20%: {'MET' if share / cores < 0.20 else 'NOT MET'})"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--settle", type=float, default=30.0, help="seconds to let the servers settle first")
    parser.add_argument("--window", type=float, default=60.0, help="seconds of idle to measure CPU over")
    args = parser.parse_args()
    asyncio.run(main(args.settle, args.window))
