"""Real servers for e2e tests: one kcp per session, physical clusters on demand, a fresh workspace per test."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Protocol

import pytest

from tmc.controllers.clusterregistration.reconcile import HealthSettings
from tmc.controllers.run import ControllerOptions, run_controllers
from tmc.controllers.sync.reconcile import SyncSettings
from tmc.errors import NotFoundError
from tmc.kcp.paths import ROOT, LogicalClusterPath
from tmc.kcp.resources import WORKSPACES
from tmc.kcp.rest import KubeClient
from tmc.kcp.workspaces import ensure_workspace
from tmc.local.embedded import LOCAL_CLUSTER_CIDRS
from tmc.local.kcp_server import KcpServer
from tmc.local.nodes import NodeSpec
from tmc.local.physical_cluster import PhysicalCluster
from tmc.local.ports import free_port

pytestmark = pytest.mark.e2e

TENANT_USERS = ("tenant-a", "tenant-b")
WorkspaceFactory = Callable[[str], Awaitable[LogicalClusterPath]]


class ClusterFactory(Protocol):
    async def __call__(self, name: str, nodes: NodeSpec | None = None) -> PhysicalCluster: ...


@pytest.fixture(scope="session")
async def kcp(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[KcpServer]:
    server = KcpServer(tmp_path_factory.mktemp("kcp"), users=TENANT_USERS)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture(scope="session")
async def kcp_client(kcp: KcpServer) -> AsyncIterator[KubeClient]:
    async with KubeClient(kcp.access) as client:
        yield client


@pytest.fixture
async def new_workspace(kcp_client: KubeClient) -> AsyncIterator[WorkspaceFactory]:
    """Creates uniquely named workspaces under root; deletes them after the test."""
    created: list[LogicalClusterPath] = []

    async def create(prefix: str = "t") -> LogicalClusterPath:
        path = ROOT.join(f"e2e-{prefix}-{secrets.token_hex(4)}")
        await ensure_workspace(kcp_client, path)
        created.append(path)
        return path

    yield create
    for path in created:
        with contextlib.suppress(NotFoundError):
            await kcp_client.delete(WORKSPACES, path.base_name, cluster=ROOT)


@pytest.fixture
async def workspace(new_workspace: WorkspaceFactory) -> LogicalClusterPath:
    return await new_workspace("ws")


@pytest.fixture(scope="session")
async def physical_clusters(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ClusterFactory]:
    """Starts named live clusters once per session (reused by every test that asks for the same name); ``nodes``
    shapes a cluster's kwok nodes the first time it is asked for (default: 2 nodes of 4 CPU / 16Gi)."""
    base: Path = tmp_path_factory.mktemp("clusters")
    running: dict[str, PhysicalCluster] = {}

    async def get(name: str, nodes: NodeSpec | None = None) -> PhysicalCluster:
        if name not in running:
            cluster = PhysicalCluster(name, base / name, nodes=nodes)
            await cluster.start()
            running[name] = cluster
        cluster = running[name]
        await cluster.start_apiserver()  # a test may have stopped it to play an outage
        return cluster

    yield get
    for cluster in running.values():
        await cluster.stop()


@pytest.fixture(scope="session")
async def tmc_installed(kcp_client: KubeClient) -> None:
    from tmc.install.install import install

    await install(kcp_client)


BoundFactory = Callable[[str], Awaitable[LogicalClusterPath]]


@pytest.fixture
async def new_tenant(tmc_installed: None, kcp_client: KubeClient, new_workspace: WorkspaceFactory) -> BoundFactory:
    """Fresh workspaces bound to TMC (claims accepted), deleted after the test."""
    from tmc.install.bind import bind

    async def create(prefix: str) -> LogicalClusterPath:
        path = await new_workspace(prefix)
        await bind(kcp_client, path)
        return path

    return create


HEARTBEAT, GRACE = 1.0, 3.0
# The sync engine's timings, short so that tests of deletion and cleanup stay quick.
SYNC = SyncSettings(cleanup_timeout=15.0, retry_after=1.0, namespace_grace=2.0)
# Allowance for kcp and the virtual workspace on a loaded 2-core CI machine, on top of the protocol's own bound.
SLACK = 30.0


@pytest.fixture(scope="module")
async def controllers(tmc_installed: None, kcp_client: KubeClient) -> AsyncIterator[None]:
    stop = asyncio.Event()
    options = ControllerOptions(
        health_port=free_port(),
        leader_election=True,
        identity="e2e-controller",
        health=HealthSettings(heartbeat_period=HEARTBEAT, grace_period=GRACE, probe_timeout=5.0),
        allowed_cluster_cidrs=LOCAL_CLUSTER_CIDRS,
        sync=SYNC,
    )
    task = asyncio.create_task(run_controllers(kcp_client.access, options, stop))
    yield
    stop.set()
    await asyncio.wait_for(task, 60)
