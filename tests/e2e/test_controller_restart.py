"""A controller killed mid-flight and started again converges; conditions are never duplicated."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from tmc.controllers.clusterregistration.reconcile import HealthSettings
from tmc.controllers.run import ControllerOptions, run_controllers
from tmc.kcp.rest import KubeClient
from tmc.kcp.watching import wait_for_object
from tmc.local.embedded import LOCAL_CLUSTER_CIDRS
from tmc.local.ports import free_port

from .conftest import GRACE, HEARTBEAT, SLACK, BoundFactory, ClusterFactory
from .test_cluster_registration_controller import REGISTRATIONS, _has, _register

pytestmark = pytest.mark.e2e


async def test_a_restarted_controller_converges_without_duplicate_conditions(
    tmc_installed: None, new_tenant: BoundFactory, kcp_client: KubeClient, physical_clusters: ClusterFactory
) -> None:
    # Runs its own controller process-equivalent, twice, instead of the module's shared one.
    tenant = await new_tenant("restart")
    cluster = await physical_clusters("restart-cluster")
    await _register(kcp_client, tenant, "survivor", cluster)
    for round_number in range(2):
        stop = asyncio.Event()
        options = ControllerOptions(
            health_port=free_port(),
            leader_election=True,
            identity=f"restart-{round_number}",
            health=HealthSettings(heartbeat_period=HEARTBEAT, grace_period=GRACE, probe_timeout=5.0),
            allowed_cluster_cidrs=LOCAL_CLUSTER_CIDRS,
        )
        task = asyncio.create_task(run_controllers(kcp_client.access, options, stop))
        try:
            ready = await wait_for_object(
                kcp_client,
                REGISTRATIONS,
                "survivor",
                _has("Ready", "True"),
                cluster=tenant,
                timeout=2 * HEARTBEAT + SLACK + (15 if round_number else 0),  # the lease of round 0 is released
            )
        finally:
            # Round 0 is cancelled mid-flight, as a crash would leave it; round 1 stops cleanly.
            if round_number == 0:
                task.cancel()
            else:
                stop.set()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 60)
        types = [c["type"] for c in ready["status"]["conditions"]]
        assert sorted(types) == ["CredentialsValid", "Reachable", "Ready"]
