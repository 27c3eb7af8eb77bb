"""kcp restarted (same data directory) under running controllers: they reconnect and converge on their own.

A kcp of its own (restarting the session's would disturb other modules). The controllers run throughout in
this process's task; kcp is down for far longer than the renew deadline, so the leader steps down (its
workers stop) and stands by with its caches; when kcp is back, watches resume from their resourceVersions,
the process takes the Lease again and answers changes made after the restart. The task never ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from typing import Any

import httpx
import pytest

from tests.e2e.manifests import deployment
from tests.unit.api.helpers import seed_example
from tmc.api import CLUSTER_REGISTRATION, WORKLOAD_PLACEMENT
from tmc.controllers.clusterregistration.reconcile import HealthSettings
from tmc.controllers.run import ControllerOptions, run_controllers
from tmc.controllers.workloadplacement.bindings import BINDINGS
from tmc.install.bind import bind
from tmc.install.install import install
from tmc.kcp.paths import ROOT
from tmc.kcp.resources import DEPLOYMENTS, resource_of
from tmc.kcp.rest import KubeClient
from tmc.kcp.watching import wait_for_object
from tmc.kcp.workspaces import ensure_workspace
from tmc.local.embedded import LOCAL_CLUSTER_CIDRS, register
from tmc.local.kcp_server import KcpServer
from tmc.local.ports import free_port

from .conftest import GRACE, HEARTBEAT, SLACK, ClusterFactory

pytestmark = pytest.mark.e2e

PLACEMENTS = resource_of(WORKLOAD_PLACEMENT)
REGISTRATIONS = resource_of(CLUSTER_REGISTRATION)
# The informers' reconnect backoff is capped at 10 s (+20 % jitter); the Lease is re-taken on the next try.
RECONNECT = 12.0 + 2.0


def _ready(obj: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in obj.get("status", {}).get("conditions", []))


async def _metrics(port: int) -> str:
    async with httpx.AsyncClient(timeout=5) as http:
        return (await http.get(f"http://127.0.0.1:{port}/metrics")).text


def _sample(metrics: str, name: str) -> float:
    for line in metrics.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_controllers_reconnect_and_converge_after_kcp_restarts_under_them(
    own_kcp: KcpServer, physical_clusters: ClusterFactory
) -> None:
    cluster = await physical_clusters("kcp-restart-west")
    async with KubeClient(own_kcp.access) as client:
        await install(client)
        tenant = ROOT.join(f"e2e-kcprestart-{secrets.token_hex(3)}")
        await ensure_workspace(client, tenant)
        await bind(client, tenant)
        await register(client, tenant, "west", cluster, "us-west")
        await client.create(PLACEMENTS, seed_example(4), cluster=tenant, namespace="default")
        await client.create(DEPLOYMENTS, deployment("web"), cluster=tenant, namespace="default")

        health_port = free_port()
        options = ControllerOptions(
            health_port=health_port,
            lease_duration=6.0,
            renew_deadline=4.0,
            retry_period=1.0,
            health=HealthSettings(heartbeat_period=HEARTBEAT, grace_period=GRACE, probe_timeout=5.0),
            allowed_cluster_cidrs=LOCAL_CLUSTER_CIDRS,
        )
        stop = asyncio.Event()
        controllers = asyncio.create_task(run_controllers(own_kcp.access, options, stop))
        try:
            await wait_for_object(client, REGISTRATIONS, "west", _ready, cluster=tenant, timeout=2 * HEARTBEAT + SLACK)
            await wait_for_object(
                client, BINDINGS, "deployment-web", lambda b: True, cluster=tenant, namespace="default", timeout=SLACK
            )
            before = await _metrics(health_port)
            assert _sample(before, "tmc_leader") == 1

            await own_kcp.restart()
            assert not controllers.done(), "the controllers ride out the outage in the same process"

            # Changes after the restart: each needs a watch that resumed and a process that leads again.
            await client.create(DEPLOYMENTS, deployment("api"), cluster=tenant, namespace="default")
            await wait_for_object(
                client,
                BINDINGS,
                "deployment-api",
                lambda b: [c["name"] for c in b["spec"]["clusters"]] == ["west"],
                cluster=tenant,
                namespace="default",
                timeout=RECONNECT + SLACK,
            )
            changed = await client.merge_patch(
                PLACEMENTS,
                "web-app-placement",
                {"spec": {"capabilityRequirements": [{"type": "compute", "required": True}, {"type": "storage"}]}},
                cluster=tenant,
                namespace="default",
            )
            placement = await wait_for_object(
                client,
                PLACEMENTS,
                "web-app-placement",
                lambda p: p.get("status", {}).get("observedGeneration") == changed["metadata"]["generation"],
                cluster=tenant,
                namespace="default",
                timeout=SLACK,
            )
            assert placement["status"]["workloads"] == 2
            await wait_for_object(client, REGISTRATIONS, "west", _ready, cluster=tenant, timeout=GRACE + SLACK)

            after = await _metrics(health_port)
            assert _sample(after, "tmc_leader") == 1
            assert _sample(after, "tmc_leader_lost_total") >= 1, "kcp was down far longer than the renew deadline"
            assert _sample(after, "tmc_informer_watch_restarts_total") > _sample(
                before, "tmc_informer_watch_restarts_total"
            )
            async with httpx.AsyncClient(timeout=5) as http:
                readyz = await http.get(f"http://127.0.0.1:{health_port}/readyz?verbose")
            assert readyz.status_code == 200, readyz.text
            assert not controllers.done()
        finally:
            stop.set()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(controllers, 60)
