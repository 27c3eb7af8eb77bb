"""``tmc controller``: every TMC controller in one process, one watch per resource across all tenants."""

from __future__ import annotations

import asyncio
import logging
import socket
from dataclasses import dataclass

from tmc.controllers.apiexport import controller as apiexport
from tmc.install.desired import TMC_WORKSPACE
from tmc.kcp.kubeconfig import ClusterAccess
from tmc.kcp.rest import KubeClient
from tmc.runtime import LeaderElector, Manager

LEASE_NAME = "tmc-controllers"
LEASE_NAMESPACE = "default"


@dataclass(frozen=True, slots=True)
class ControllerOptions:
    health_host: str = "127.0.0.1"
    health_port: int = 8080
    leader_election: bool = True
    identity: str = ""
    resync_period: float = 60.0


async def run_controllers(access: ClusterAccess, options: ControllerOptions, stop: asyncio.Event) -> None:
    """Runs until ``stop`` is set (the CLI sets it on SIGTERM/SIGINT)."""
    async with KubeClient(access, user_agent="tmc-controller") as client:
        elector = None
        if options.leader_election:
            elector = LeaderElector(
                client,
                name=LEASE_NAME,
                namespace=LEASE_NAMESPACE,
                cluster=TMC_WORKSPACE,
                identity=options.identity or f"{socket.gethostname()}-{id(stop):x}",
            )
        manager = Manager(elector=elector, health_address=(options.health_host, options.health_port))
        apiexport.setup(manager, client, resync_period=options.resync_period)
        logging.getLogger(__name__).info("starting TMC controllers")
        await manager.run(stop)
