"""Real servers for e2e tests: one kcp per session, physical clusters on demand, a fresh workspace per test."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
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
from tmc.local.process import ManagedProcess, tail

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


class LoggedController(Protocol):
    """A ``tmc controller`` process a test starts (``test_leader_handover.ControllerProcess``)."""

    @property
    def process(self) -> ManagedProcess: ...

    @property
    def identity(self) -> str: ...


@pytest.fixture
async def controller_logs() -> AsyncIterator[list[LoggedController]]:
    """Controller processes a test starts: stopped at its end, each log's tail printed (shown if it failed)."""
    started: list[LoggedController] = []
    yield started
    for controller in started:
        await controller.process.stop()
        print(f"--- {controller.process.name} ({controller.identity}) ---\n{tail(controller.process.log_path, 40)}")


@pytest.fixture
async def own_kcp(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[KcpServer]:
    """A kcp of the test's own, to stop and restart: restarting the session's kcp would disturb other modules."""
    server = KcpServer(tmp_path_factory.mktemp("kcp-own"))
    await server.start()
    try:
        yield server
    finally:
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


class ClusterPool:
    """Live clusters by name, started on first use and shared by the tests of one module.

    Each idle live cluster keeps etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok running
    (about 0.4 GiB and a steady share of a core); the suite asks for some 40, so a module's clusters stop when it
    ends instead of idling through the rest of the session."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.running: dict[str, PhysicalCluster] = {}
        self._started = 0

    async def __call__(self, name: str, nodes: NodeSpec | None = None) -> PhysicalCluster:
        if name not in self.running:
            self._started += 1
            cluster = PhysicalCluster(name, self.base / f"{self._started}-{name}", nodes=nodes)
            self.running[name] = cluster
            await cluster.start()
        cluster = self.running[name]
        await cluster.start_apiserver()  # a test may have stopped it to play an outage
        return cluster

    async def stop(self, names: Iterable[str]) -> None:
        for name in list(names):
            cluster = self.running.pop(name, None)
            if cluster is not None:
                await cluster.stop()


@pytest.fixture(scope="session")
async def cluster_pool(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ClusterPool]:
    pool = ClusterPool(tmp_path_factory.mktemp("clusters"))
    yield pool
    await pool.stop(pool.running)


@pytest.fixture(scope="module", autouse=True)
async def _module_clusters(cluster_pool: ClusterPool) -> AsyncIterator[None]:
    """Stops the clusters a module started, once its tests (and its module fixtures) are done."""
    before = set(cluster_pool.running)
    yield
    await cluster_pool.stop(set(cluster_pool.running) - before)


@pytest.fixture(scope="session")
async def physical_clusters(cluster_pool: ClusterPool) -> ClusterFactory:
    """Starts named live clusters on first use (reused by the module's tests that ask for the same name);
    ``nodes`` shapes a cluster's kwok nodes the first time it is asked for (default: 2 nodes of 4 CPU / 16Gi)."""
    return cluster_pool


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
