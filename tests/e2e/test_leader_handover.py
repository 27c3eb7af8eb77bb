"""Two ``tmc controller`` processes against real kcp: one leads, one stands by; SIGKILL the leader.

Each process keeps a write journal (``--write-log``: one line per write it makes to kcp, hooked into its HTTP
client, so no write can bypass it; kcp's virtual workspace forwards writes under its own name, so
``managedFields`` cannot tell the processes apart). Identities are the default hostname-plus-random ones, read
from each process's ``/readyz?verbose``. What is proven:

- the standby has warm caches (``/readyz`` 200) yet writes nothing at all, while the leader answers a change
  that needs a status write;
- after ``SIGKILL`` of the leader, the standby holds the Lease within the lease duration (plus the slack of
  observing the leader's last renewal on a loaded machine), and not before the lease could have expired;
- the new leader then writes; every object either process wrote was last written by the old leader before
  the kill and first written by the new one after it could lead: no object was written by both at once.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.manifests import deployment
from tests.unit.api.helpers import seed_example
from tmc.api import CLUSTER_REGISTRATION, WORKLOAD_PLACEMENT
from tmc.controllers.run import LEASE_NAME, LEASE_NAMESPACE
from tmc.controllers.workloadplacement.bindings import BINDINGS
from tmc.install.desired import TMC_WORKSPACE
from tmc.kcp.resources import DEPLOYMENTS, LEASES, resource_of
from tmc.kcp.rest import KubeClient
from tmc.kcp.watching import wait_for_object
from tmc.local.embedded import register
from tmc.local.kcp_server import KcpServer
from tmc.local.ports import free_port
from tmc.local.process import ManagedProcess
from tmc.local.readiness import wait_until
from tmc.runtime.journal import read_journal

from .conftest import SLACK, BoundFactory, ClusterFactory

pytestmark = pytest.mark.e2e

PLACEMENTS = resource_of(WORKLOAD_PLACEMENT)
REGISTRATIONS = resource_of(CLUSTER_REGISTRATION)
LEASE_DURATION, RENEW_DEADLINE, RETRY_PERIOD = 6.0, 4.0, 1.0
# Observing the leader's last renewal through the Lease watch, and waking on a loaded 2-core machine.
OBSERVATION_SLACK = 2.0


class ControllerProcess:
    """``python -m tmc.cli.main controller`` with its own health port and log."""

    def __init__(self, name: str, kcp: KcpServer, log_dir: Path) -> None:
        self.port = free_port()
        argv = [
            sys.executable,
            "-m",
            "tmc.cli.main",
            "controller",
            f"--kubeconfig={kcp.admin_kubeconfig_path}",
            f"--health-port={self.port}",
            f"--lease-duration={LEASE_DURATION}",
            f"--renew-deadline={RENEW_DEADLINE}",
            f"--retry-period={RETRY_PERIOD}",
            "--heartbeat-period=1",
            "--grace-period=3",
            "--allow-cluster-cidr=127.0.0.0/8",
            f"--write-log={log_dir / f'{name}.jsonl'}",
        ]
        self.process = ManagedProcess(name, argv, log_dir / f"{name}.log")
        self.journal_path = log_dir / f"{name}.jsonl"
        self.identity = ""

    def writes(self) -> list[dict[str, Any]]:
        return read_journal(self.journal_path)

    async def readyz(self) -> tuple[int, str]:
        async with httpx.AsyncClient(timeout=5) as http:
            response = await http.get(f"http://127.0.0.1:{self.port}/readyz?verbose")
        return response.status_code, response.text

    async def start_and_wait_ready(self) -> None:
        await self.process.start()

        async def ready() -> bool:
            try:
                status, body = await self.readyz()
            except httpx.HTTPError:
                return False
            self.identity = body.strip().splitlines()[-1].split("(", 1)[-1].rstrip(")")
            return status == 200

        await wait_until(self.process, ready, what="/readyz 200", timeout=60 + SLACK)

    def kill(self) -> None:
        assert self.process.pid is not None
        os.killpg(self.process.pid, signal.SIGKILL)


def _holder(identity: str) -> Any:
    return lambda lease: lease.get("spec", {}).get("holderIdentity") == identity


def _observed(generation: int) -> Any:
    return lambda obj: obj.get("status", {}).get("observedGeneration") == generation


def _object(record: dict[str, Any]) -> str:
    """The object a journaled write touched: its path without ``/status``; a create names it in the answer."""
    path = str(record["path"]).removesuffix("/status")
    return f"{path}/{record['name']}" if record["method"] == "POST" else path


async def test_sigkill_of_the_leader_hands_over_within_the_lease_duration_without_double_writers(
    tmc_installed: None,
    kcp: KcpServer,
    kcp_client: KubeClient,
    new_tenant: BoundFactory,
    physical_clusters: ClusterFactory,
    tmp_path: Path,
    controller_logs: list[ControllerProcess],
) -> None:
    tenant = await new_tenant("handover")
    cluster = await physical_clusters("handover-west")
    await register(kcp_client, tenant, "west", cluster, "us-west")
    await kcp_client.create(PLACEMENTS, seed_example(4), cluster=tenant, namespace="default")
    await kcp_client.create(DEPLOYMENTS, deployment("web"), cluster=tenant, namespace="default")

    first = ControllerProcess("controller-a", kcp, tmp_path)
    controller_logs.append(first)
    await first.start_and_wait_ready()
    await wait_for_object(
        kcp_client,
        LEASES,
        LEASE_NAME,
        _holder(first.identity),
        cluster=TMC_WORKSPACE,
        namespace=LEASE_NAMESPACE,
        timeout=2 * LEASE_DURATION + SLACK,  # a Lease left by an earlier test expires first
    )
    await wait_for_object(
        kcp_client, BINDINGS, "deployment-web", lambda b: True, cluster=tenant, namespace="default", timeout=SLACK
    )

    second = ControllerProcess("controller-b", kcp, tmp_path)
    controller_logs.append(second)
    await second.start_and_wait_ready()
    status, body = await second.readyz()
    assert (status, body.strip().splitlines()[-1]) == (200, f"standby ({second.identity})")
    assert first.identity != second.identity
    assert first.identity.startswith(os.uname().nodename + "_"), "the default identity: hostname_<random>"

    # A change that needs a status write, while both run: only the leader may answer it.
    changed = await kcp_client.merge_patch(
        PLACEMENTS,
        "web-app-placement",
        {"spec": {"capabilityRequirements": [{"type": "compute", "required": True}, {"type": "storage"}]}},
        cluster=tenant,
        namespace="default",
    )
    await wait_for_object(
        kcp_client,
        PLACEMENTS,
        "web-app-placement",
        _observed(changed["metadata"]["generation"]),
        cluster=tenant,
        namespace="default",
        timeout=SLACK,
    )
    assert second.writes() == [], "a standby writes nothing"
    placement_status = [r for r in first.writes() if r["path"].endswith("/workloadplacements/web-app-placement/status")]
    assert placement_status, "the leader answered the change"

    first.kill()
    killed_mono, killed_wall = time.monotonic(), time.time()
    await wait_for_object(
        kcp_client,
        LEASES,
        LEASE_NAME,
        _holder(second.identity),
        cluster=TMC_WORKSPACE,
        namespace=LEASE_NAMESPACE,
        timeout=LEASE_DURATION + OBSERVATION_SLACK + SLACK,
    )
    took = time.monotonic() - killed_mono
    print(f"the standby led {took:.2f}s after SIGKILL of the leader (lease duration {LEASE_DURATION:g}s)")
    # The killed leader renewed at most one retry period before it died; the standby waits a full lease
    # duration on its own clock from when it saw that renewal.
    assert took >= LEASE_DURATION - RETRY_PERIOD - 0.5, "taken over before the lease could have expired"
    assert took <= LEASE_DURATION + OBSERVATION_SLACK, "the standby must lead within the lease duration"

    changed = await kcp_client.merge_patch(
        PLACEMENTS,
        "web-app-placement",
        {"spec": {"capabilityRequirements": [{"type": "compute", "required": True}]}},
        cluster=tenant,
        namespace="default",
    )
    await wait_for_object(
        kcp_client,
        PLACEMENTS,
        "web-app-placement",
        _observed(changed["metadata"]["generation"]),
        cluster=tenant,
        namespace="default",
        timeout=SLACK,
    )
    old_leader, new_leader = first.writes(), second.writes()
    assert old_leader[-1]["time"] <= killed_wall
    assert new_leader[0]["path"].endswith(f"/leases/{LEASE_NAME}"), "the new leader's first write takes the Lease"
    assert new_leader[0]["time"] >= killed_wall + LEASE_DURATION - RETRY_PERIOD - 0.5
    assert any(r["path"].endswith("/workloadplacements/web-app-placement/status") for r in new_leader)
    last_by_old = {}
    for record in old_leader:
        last_by_old[_object(record)] = record["time"]
    both = 0
    for record in new_leader:
        earlier = last_by_old.get(_object(record))
        if earlier is not None:
            both += 1
            assert earlier < record["time"], f"{_object(record)}: written by both leaders at once"
    assert both >= 2, "the Lease and the placement's status were written by each leader in turn"
    assert second.process.running
    await second.process.stop()  # SIGTERM: a clean stop releases the Lease
    lease = await kcp_client.get(LEASES, LEASE_NAME, cluster=TMC_WORKSPACE, namespace=LEASE_NAMESPACE)
    assert lease["spec"]["holderIdentity"] == ""
