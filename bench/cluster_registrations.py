"""Bench: N ClusterRegistrations across W tenant workspaces, pointing at a handful of real clusters.

Starts real kcp and real kube-apiservers, installs TMC, binds W workspaces, creates N registrations (with their
kubeconfig Secrets), then starts ``tmc controller`` as a separate process and reports:

- the time from controller start until every registration is Ready, in seconds and heartbeat periods;
- with nothing changing, writes per second per 100 registrations over an idle window (default: one
  ``--status-period`` plus its jitter, so the periodic lastHeartbeatTime refresh is inside it), counted two
  ways: by kcp (``apiserver_request_total``, every mutating verb, leases included) and by the controller
  (its ClusterRegistration status writes);
- the controller's RSS now and at peak, and how many pooled cluster clients it holds.

    .venv/bin/python bench/cluster_registrations.py [--registrations 200] [--workspaces 20] [--clusters 3]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tmc.api import CLUSTER_REGISTRATION
from tmc.install.bind import bind
from tmc.install.install import install
from tmc.kcp.paths import ALL_CLUSTERS, ROOT
from tmc.kcp.resources import SECRETS, resource_of
from tmc.kcp.rest import KubeClient
from tmc.kcp.virtual_workspace import export_virtual_workspace_url
from tmc.kcp.workspaces import ensure_workspace
from tmc.local.kcp_server import KcpServer
from tmc.local.physical_cluster import PhysicalCluster
from tmc.local.ports import free_port

MUTATING_VERBS = {"POST", "PUT", "PATCH", "DELETE", "APPLY", "CREATE", "UPDATE", "DELETECOLLECTION"}

REGISTRATIONS = resource_of(CLUSTER_REGISTRATION)


def _ready(obj: dict[str, Any]) -> bool:
    conditions = obj.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def _rss_kib(pid: int, field: str) -> int:
    status = Path(f"/proc/{pid}/status")
    if not status.exists():
        raise SystemExit(f"the controller process {pid} exited; see its output above")
    for line in status.read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1])
    return 0


def _samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    """Samples of one metric from a Prometheus text exposition (enough of the format for counters)."""
    found = []
    for line in text.splitlines():
        if not line.startswith(name) or line[len(name) : len(name) + 1] not in ("{", " "):
            continue
        head, _, value = line.rpartition(" ")
        labels: dict[str, str] = {}
        if "{" in head:
            for pair in head[head.index("{") + 1 : head.rindex("}")].split('",'):
                key, _, raw = pair.partition("=")
                labels[key.strip(",")] = raw.strip('"')
        found.append((labels, float(value)))
    return found


async def _kcp_writes(client: KubeClient) -> Counter[str]:
    """kcp's count of mutating requests so far, by verb and resource."""
    _, text = await client.get_raw("/metrics")
    counts: Counter[str] = Counter()
    for labels, value in _samples(text, "apiserver_request_total"):
        if labels.get("verb") in MUTATING_VERBS:
            what = "/".join(filter(None, (labels.get("resource"), labels.get("subresource"))))
            counts[f"{labels['verb']} {what}"] += int(value)
    return counts


async def _controller_metric(port: int, name: str, **match: str) -> float:
    """The sum of a controller metric's samples whose labels include ``match``."""
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
    return sum(v for labels, v in _samples(text, name) if match.items() <= labels.items())


async def _until_all_ready(
    vw: KubeClient, registrations: int, pid: int, started: float, *, timeout: float
) -> tuple[int, float]:
    """Watch (not poll: polling 1,000 objects would load the kcp being measured) until all are Ready.

    Returns how many were Ready and when the first became Ready (seconds after ``started``).
    """
    ready: set[tuple[str, str]] = set()
    first = float("nan")

    def see(obj: dict[str, Any]) -> None:
        nonlocal first
        key = (str(obj["metadata"].get("annotations", {}).get("kcp.io/cluster")), str(obj["metadata"]["name"]))
        if _ready(obj):
            if not ready:
                first = time.monotonic() - started
            ready.add(key)
        else:
            ready.discard(key)

    async def watch() -> None:
        listing = await vw.list(REGISTRATIONS, cluster=ALL_CLUSTERS)
        for item in listing["items"]:
            see(item)
        version = listing["metadata"]["resourceVersion"]
        while len(ready) < registrations:
            async for event in vw.watch(REGISTRATIONS.path(ALL_CLUSTERS), resource_version=version):
                version = event["object"]["metadata"].get("resourceVersion", version)
                if event["type"] in ("ADDED", "MODIFIED"):
                    see(event["object"])
                if len(ready) >= registrations:
                    return
            _rss_kib(pid, "VmRSS:")  # fails clearly if the controller died

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(watch(), timeout)
    return len(ready), first


async def _status_writes(port: int) -> float:
    """ClusterRegistration status writes the controller's StatusWriter made (no-ops not counted)."""
    return await _controller_metric(
        port, "tmc_status_writes_total", resource="clusterregistrations.tmc.kcp.io", outcome="written"
    )


@dataclass
class IdleFigures:
    seconds: float
    kcp_writes_per_s: float  # every mutating request kcp counted
    status_writes_per_s: float  # the controller's ClusterRegistration status writes
    per_100: float  # the factor from "in all" to "per 100 registrations"
    not_ready_seen: int  # the most registrations not Ready at once
    top: list[tuple[str, float]]  # writes per second by verb and resource


@dataclass
class RegistrationFigures:
    registrations: int
    workspaces: int
    clusters: int
    heartbeat: float
    ready: int
    ready_s: float  # controller start -> every registration Ready
    first_ready_s: float
    rss_mb: float
    rss_peak_mb: float
    cpu_s: float  # the controller's CPU seconds (user + system) from its start to the end of the run
    endpoints: float  # pooled cluster clients
    idle: IdleFigures | None


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(
    registrations: int,
    workspaces: int,
    clusters: int,
    heartbeat: float,
    status_period: float,
    idle: float | None,
    log_level: str = "WARNING",
    *,
    ready_timeout: float = 600.0,
) -> RegistrationFigures:
    """Run the bench, printing progress; ``idle=0`` skips the idle window (``None``: one status period and
    its jitter plus a heartbeat)."""
    work = Path(tempfile.mkdtemp(prefix="tmc-bench-"))
    kcp = KcpServer(work / "kcp")
    physical = [PhysicalCluster(f"bench-{i}", work / f"cluster-{i}") for i in range(clusters)]
    await asyncio.gather(kcp.start(), *(c.start() for c in physical))
    controller: asyncio.subprocess.Process | None = None
    try:
        async with KubeClient(kcp.access) as client:
            await install(client)
            tenants = [ROOT.join(f"bench-{i}") for i in range(workspaces)]
            setup_started = time.monotonic()
            for tenant in tenants:
                await ensure_workspace(client, tenant)
                await bind(client, tenant)
                for index, cluster in enumerate(physical):
                    secret = {
                        "apiVersion": "v1",
                        "kind": "Secret",
                        "metadata": {"name": f"cluster-{index}", "namespace": "default"},
                        "data": {"kubeconfig": base64.b64encode(cluster.access.to_kubeconfig_yaml().encode()).decode()},
                    }
                    await client.create(SECRETS, secret, cluster=tenant, namespace="default")
            for number in range(registrations):
                tenant = tenants[number % workspaces]
                body = {
                    "apiVersion": "tmc.kcp.io/v1alpha1",
                    "kind": "ClusterRegistration",
                    "metadata": {"name": f"reg-{number}"},
                    "spec": {
                        "location": f"loc-{number % 5}",
                        "capabilities": [{"type": "compute", "available": True}],
                        "kubeconfigSecretRef": {"namespace": "default", "name": f"cluster-{number % clusters}"},
                    },
                }
                await client.create(REGISTRATIONS, body, cluster=tenant)
            print(
                f"setup: {workspaces} workspaces, {registrations} registrations in "
                f"{time.monotonic() - setup_started:.1f}s"
            )
            url = await export_virtual_workspace_url(client, ROOT.join("tmc"), "tmc.kcp.io")

            started = time.monotonic()
            health_port = free_port()
            controller = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tmc.cli.main",
                "controller",
                "--kubeconfig",
                str(kcp.admin_kubeconfig_path),
                "--health-port",
                str(health_port),
                "--heartbeat-period",
                str(heartbeat),
                "--grace-period",
                str(3 * heartbeat),
                "--status-period",
                str(status_period),
                "--allow-cluster-cidr",
                "127.0.0.0/8",
                "--log-level",
                log_level,
                env={**os.environ},
            )
            async with KubeClient(kcp.access.with_server(url)) as vw:
                ready, first_ready = await _until_all_ready(
                    vw, registrations, controller.pid, started, timeout=ready_timeout
                )
                elapsed = time.monotonic() - started
                print(
                    f"ready: {ready}/{registrations} after {elapsed:.1f}s "
                    f"({elapsed / heartbeat:.1f} heartbeat periods of {heartbeat:g}s); the first Ready after"
                    f" {first_ready:.1f}s"
                )
                window = idle if idle is not None else status_period * 1.1 + heartbeat
                idle_figures = await _idle(client, vw, controller.pid, health_port, registrations, window)
                endpoints = await _controller_metric(health_port, "tmc_cluster_endpoints")
                figures = RegistrationFigures(
                    registrations=registrations,
                    workspaces=workspaces,
                    clusters=clusters,
                    heartbeat=heartbeat,
                    ready=ready,
                    ready_s=elapsed,
                    first_ready_s=first_ready,
                    rss_mb=_rss_kib(controller.pid, "VmRSS:") / 1024,
                    rss_peak_mb=_rss_kib(controller.pid, "VmHWM:") / 1024,
                    cpu_s=_cpu_seconds(controller.pid),
                    endpoints=endpoints,
                    idle=idle_figures,
                )
                print(
                    f"controller RSS: now {figures.rss_mb:.0f} MiB, peak {figures.rss_peak_mb:.0f} MiB; CPU"
                    f" {figures.cpu_s:.1f}s since its start; pooled cluster clients: {endpoints:.0f}"
                )
                return figures
    finally:
        if controller is not None and controller.returncode is None:
            controller.terminate()
            await controller.wait()
        await asyncio.gather(kcp.stop(), *(c.stop() for c in physical))
        shutil.rmtree(work, ignore_errors=True)


async def _idle(
    client: KubeClient, vw: KubeClient, pid: int, health_port: int, registrations: int, window: float
) -> IdleFigures | None:
    """Writes while nothing changes, over ``window`` seconds (none when it is 0)."""
    if window <= 0:
        return None
    kcp_before = await _kcp_writes(client)
    status_before = await _status_writes(health_port)
    idle_started = time.monotonic()
    not_ready_seen = 0
    while time.monotonic() - idle_started < window:
        _rss_kib(pid, "VmRSS:")  # fails clearly if the controller died
        listing = await vw.list(REGISTRATIONS, cluster=ALL_CLUSTERS)
        not_ready_seen = max(not_ready_seen, sum(1 for item in listing["items"] if not _ready(item)))
        await asyncio.sleep(5.0)  # a bench probe, not product code
    seconds = time.monotonic() - idle_started
    kcp_delta = await _kcp_writes(client)
    kcp_delta.subtract(kcp_before)
    figures = IdleFigures(
        seconds=seconds,
        kcp_writes_per_s=sum(kcp_delta.values()) / seconds,
        status_writes_per_s=(await _status_writes(health_port) - status_before) / seconds,
        per_100=100 / registrations,
        not_ready_seen=not_ready_seen,
        top=[(what, count / seconds) for what, count in kcp_delta.most_common(5) if count],
    )
    kcp_rate, status_rate, per_100 = figures.kcp_writes_per_s, figures.status_writes_per_s, figures.per_100
    print(
        f"idle {seconds:.0f}s: writes to kcp {kcp_rate:.2f}/s in all = {kcp_rate * per_100:.3f}/s per 100"
        f" registrations; registration status writes {status_rate:.2f}/s = {status_rate * per_100:.3f}/s"
        f" per 100; most registrations not Ready at once while idle: {not_ready_seen}"
    )
    top = ", ".join(f"{what} {rate:.2f}/s" for what, rate in figures.top)
    print(f"writes kcp counted while idle, by kind: {top or 'none'}")
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--registrations", type=int, default=200)
    parser.add_argument("--workspaces", type=int, default=20)
    parser.add_argument("--clusters", type=int, default=3)
    parser.add_argument("--heartbeat", type=float, default=10.0, help="seconds between liveness probes")
    parser.add_argument(
        "--status-period", type=float, default=300.0, help="seconds between lastHeartbeatTime writes when idle"
    )
    parser.add_argument(
        "--idle-seconds", type=float, default=None, help="idle window (default: status period + jitter + 1 heartbeat)"
    )
    parser.add_argument("--controller-log-level", default="WARNING")
    args = parser.parse_args()
    asyncio.run(
        measure(
            args.registrations,
            args.workspaces,
            args.clusters,
            args.heartbeat,
            args.status_period,
            args.idle_seconds,
            args.controller_log_level,
        )
    )
