"""A controller killed mid-flight and started again converges; conditions are never duplicated.

Round 0 runs until the registration is Ready and is then cancelled mid-flight, as a crash would leave it (its
Lease is not released). Between the rounds the registration's spec changes, so its status is stale: only a
controller that runs can bring the conditions' observedGeneration up to the new generation. Round 1 must
produce exactly that, and its write journal must hold the status write, which proves the restarted process
did the work (a wait for Ready alone would already be satisfied by round 0's status).
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import pytest

from tmc.controllers.clusterregistration.reconcile import HealthSettings
from tmc.controllers.run import ControllerOptions, run_controllers
from tmc.kcp.rest import KubeClient
from tmc.kcp.watching import wait_for_object
from tmc.local.embedded import LOCAL_CLUSTER_CIDRS
from tmc.local.ports import free_port
from tmc.runtime.journal import read_journal

from .conftest import GRACE, HEARTBEAT, SLACK, BoundFactory, ClusterFactory
from .test_cluster_registration_controller import REGISTRATIONS, _has, _register

pytestmark = pytest.mark.e2e

LEASE_DURATION = 15.0  # ControllerOptions' default: round 1 waits this long for round 0's unreleased Lease


def _converged(generation: int) -> Any:
    ready = _has("Ready", "True")

    def check(obj: dict[str, Any]) -> bool:
        conditions = obj.get("status", {}).get("conditions", [])
        return ready(obj) and all(c.get("observedGeneration") == generation for c in conditions)

    return check


async def test_a_restarted_controller_converges_without_duplicate_conditions(
    tmc_installed: None,
    new_tenant: BoundFactory,
    kcp_client: KubeClient,
    physical_clusters: ClusterFactory,
    tmp_path: Path,
) -> None:
    # Runs its own controller process-equivalent, twice, instead of the module's shared one.
    tenant = await new_tenant("restart")
    cluster = await physical_clusters("restart-cluster")
    await _register(kcp_client, tenant, "survivor", cluster)
    generation = 1
    for round_number in range(2):
        journal = tmp_path / f"round-{round_number}.jsonl"
        stop = asyncio.Event()
        options = ControllerOptions(
            health_port=free_port(),
            leader_election=True,
            identity=f"restart-{round_number}",
            lease_duration=LEASE_DURATION,
            health=HealthSettings(heartbeat_period=HEARTBEAT, grace_period=GRACE, probe_timeout=5.0),
            allowed_cluster_cidrs=LOCAL_CLUSTER_CIDRS,
            write_log=journal,
        )
        task = asyncio.create_task(run_controllers(kcp_client.access, options, stop))
        try:
            converged = await wait_for_object(
                kcp_client,
                REGISTRATIONS,
                "survivor",
                _converged(generation),
                cluster=tenant,
                timeout=2 * HEARTBEAT + SLACK + (LEASE_DURATION if round_number else 0),
            )
        finally:
            # Round 0 is cancelled mid-flight, as a crash would leave it; round 1 stops cleanly.
            if round_number == 0:
                task.cancel()
            else:
                stop.set()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 60)
        types = [c["type"] for c in converged["status"]["conditions"]]
        assert sorted(types) == ["CredentialsValid", "Reachable", "Ready"]
        logical_cluster = converged["metadata"]["annotations"]["kcp.io/cluster"]
        status_path = f"/clusters/{logical_cluster}{REGISTRATIONS.path(name='survivor', subresource='status')}"
        own_writes = [record for record in read_journal(journal) if record["path"] == status_path]
        assert own_writes, f"round {round_number} must have written the status itself"
        assert {record["identity"] for record in own_writes} == {f"restart-{round_number}"}
        if round_number == 0:
            # Stale the status while no controller runs: only round 1 can catch up with this generation.
            changed = await kcp_client.merge_patch(
                REGISTRATIONS, "survivor", {"spec": {"location": "moved-while-down"}}, cluster=tenant
            )
            generation = changed["metadata"]["generation"]
            assert generation == 2
            assert not _converged(generation)(changed)
