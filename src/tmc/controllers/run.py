"""``tmc controller``: every TMC controller in one process, one watch per resource across all tenants.

Two groups start in order: the APIExport controller (it watches ``root:tmc`` itself), then, once kcp publishes
the tmc.kcp.io export's virtual workspace URL (after the first tenant binds), the tenant-facing controllers
that watch all bound workspaces through it. With leader election on, only the replica holding the Lease in
``root:tmc`` runs either group; a standby takes over when the lease expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field
from typing import Any

from tmc import clusters
from tmc.api import EXPORT_NAME
from tmc.controllers.apiexport import controller as apiexport
from tmc.controllers.clusterregistration import controller as clusterregistration
from tmc.controllers.clusterregistration.reconcile import HealthSettings
from tmc.controllers.workloadplacement import controller as workloadplacement
from tmc.install.desired import TMC_WORKSPACE
from tmc.kcp.kubeconfig import ClusterAccess
from tmc.kcp.rest import KubeClient
from tmc.kcp.virtual_workspace import export_virtual_workspace_url
from tmc.runtime import LeaderElector, Manager, RuntimeMetrics

LEASE_NAME = "tmc-controllers"
LEASE_NAMESPACE = "default"
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ControllerOptions:
    health_host: str = "127.0.0.1"
    health_port: int = 8080
    leader_election: bool = True
    identity: str = ""
    resync_period: float = 60.0
    health: HealthSettings = field(default_factory=HealthSettings)
    cluster_workers: int = 16
    virtual_workspace_timeout: float = 24 * 3600.0
    # Tenant cluster addresses in these ranges are allowed even if loopback/link-local (tmc.clusters.policy).
    allowed_cluster_cidrs: tuple[str, ...] = ()


async def run_controllers(access: ClusterAccess, options: ControllerOptions, stop: asyncio.Event) -> None:
    """Runs until ``stop`` is set (the CLI sets it on SIGTERM/SIGINT)."""
    clusters.AddressPolicy.parse(options.allowed_cluster_cidrs)  # a bad flag fails now, not after the lease
    async with KubeClient(access, user_agent="tmc-controller") as client, _leadership(client, options):
        await _run_all(client, access, options, stop)


@contextlib.asynccontextmanager
async def _leadership(client: KubeClient, options: ControllerOptions) -> AsyncIterator[None]:
    if not options.leader_election:
        yield
        return
    elector = LeaderElector(
        client,
        name=LEASE_NAME,
        namespace=LEASE_NAMESPACE,
        cluster=TMC_WORKSPACE,
        identity=options.identity or f"{socket.gethostname()}-{id(options):x}",
    )
    log.info("waiting for the lease %s/%s in %s", LEASE_NAMESPACE, LEASE_NAME, TMC_WORKSPACE)
    async with elector.leading():
        log.info("leading as %s", elector.identity)
        yield


async def _run_all(client: KubeClient, access: ClusterAccess, options: ControllerOptions, stop: asyncio.Event) -> None:
    metrics = RuntimeMetrics()
    provider = Manager(metrics=metrics, health_address=(options.health_host, options.health_port))
    apiexport.setup(provider, client, resync_period=options.resync_period)
    provider_task = asyncio.create_task(provider.run(stop), name="tmc-provider-controllers")
    try:
        url = await _until_stopped(
            stop,
            export_virtual_workspace_url(client, TMC_WORKSPACE, EXPORT_NAME, timeout=options.virtual_workspace_timeout),
        )
        if url is None:
            return
        log.info("watching all bound workspaces through %s", url)
        async with KubeClient(access.with_server(url), user_agent="tmc-controller") as virtual_workspace:
            tenants = Manager(metrics=metrics)
            # Tenants' clusters may never be kcp itself, whatever ranges the operator allows.
            kcp_addresses = await clusters.resolve_endpoints([access.server, url])
            directory = clusters.setup(
                tenants,
                virtual_workspace,
                settings=options.health.probe_settings(),
                policy=clusters.AddressPolicy.parse(options.allowed_cluster_cidrs).denying(kcp_addresses),
                resync_period=options.resync_period,
            )
            clusterregistration.setup(
                tenants, virtual_workspace, directory, options.health, workers=options.cluster_workers
            )
            workloadplacement.setup(tenants, virtual_workspace, resync_period=options.resync_period)
            async with directory:
                await tenants.run(stop)
    finally:
        stop.set()
        await provider_task


async def _until_stopped(stop: asyncio.Event, work: Coroutine[Any, Any, str]) -> str | None:
    task = asyncio.create_task(work)
    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        stopper.cancel()
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return None
