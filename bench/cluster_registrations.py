"""Bench: N ClusterRegistrations across W tenant workspaces, pointing at a handful of real clusters.

Starts real kcp and real kube-apiservers, installs TMC, binds W workspaces, creates N registrations (with their
kubeconfig Secrets), then starts ``tmc controller`` as a separate process and reports the time until every
registration is Ready, the controller's peak RSS and its reconcile counters.

    .venv/bin/python bench/cluster_registrations.py [--registrations 200] [--workspaces 20] [--clusters 3]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

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


async def main(registrations: int, workspaces: int, clusters: int, heartbeat: float) -> None:
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
            controller = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tmc.cli.main",
                "controller",
                "--kubeconfig",
                str(kcp.admin_kubeconfig_path),
                "--health-port",
                str(free_port()),
                "--heartbeat-period",
                str(heartbeat),
                "--grace-period",
                str(3 * heartbeat),
                "--log-level",
                "WARNING",
                env={**os.environ},
            )
            async with KubeClient(kcp.access.with_server(url)) as vw:
                ready = 0
                peak = 0
                while ready < registrations:
                    listing = await vw.list(REGISTRATIONS, cluster=ALL_CLUSTERS)
                    ready = sum(1 for item in listing["items"] if _ready(item))
                    peak = max(peak, _rss_kib(controller.pid, "VmRSS:"))
                    if time.monotonic() - started > 600:
                        break
                    await asyncio.sleep(0.5)  # a bench probe, not product code
            elapsed = time.monotonic() - started
            print(
                f"ready: {ready}/{registrations} after {elapsed:.1f}s "
                f"({elapsed / heartbeat:.1f} heartbeat periods of {heartbeat:.0f}s)"
            )
            steady_until = time.monotonic() + 3 * heartbeat
            while time.monotonic() < steady_until:
                peak = max(peak, _rss_kib(controller.pid, "VmRSS:"))
                await asyncio.sleep(0.5)
            print(
                f"controller RSS: now {_rss_kib(controller.pid, 'VmRSS:') / 1024:.0f} MiB, "
                f"peak {_rss_kib(controller.pid, 'VmHWM:') / 1024:.0f} MiB"
            )
    finally:
        if controller is not None and controller.returncode is None:
            controller.terminate()
            await controller.wait()
        await asyncio.gather(kcp.stop(), *(c.stop() for c in physical))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--registrations", type=int, default=200)
    parser.add_argument("--workspaces", type=int, default=20)
    parser.add_argument("--clusters", type=int, default=3)
    parser.add_argument("--heartbeat", type=float, default=10.0)
    args = parser.parse_args()
    asyncio.run(main(args.registrations, args.workspaces, args.clusters, args.heartbeat))
