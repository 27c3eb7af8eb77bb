"""``tmc controller``: every TMC controller in one process, under one ``Manager`` (the composition root).

One Manager holds everything, so there is one health server, one readiness that covers every watch, one
leader election and one place where workers start and stop:

- informers in ``root:tmc`` (exports, schemas, the export's endpoint slices) for the APIExport controller,
  and a watch of the Lease;
- informers across every bound workspace (registrations, Secrets, placements, workloads, bindings) through
  the tmc.kcp.io export's virtual workspace, a ``VirtualWorkspaceClient`` whose URLs follow the export's
  APIExportEndpointSlice: the slice informer hands every change to ``set_urls``, and each informer watches
  every URL (one per kcp shard). Before the first tenant binds there is no URL; those informers are then
  empty (and synced) and start watching once kcp publishes one;
- the APIExport, ClusterRegistration and WorkloadPlacement controllers.

With leader election (the default) every replica runs the informers and the health server, so a standby has
warm caches and answers ``/healthz`` and ``/readyz``; only the Lease holder runs workers, and a replica that
loses the Lease stops every in-flight reconcile before another can take over and then stands by again
(``tmc.runtime.leader`` and ``tmc.runtime.manager`` say how). Each process has its own identity (default:
hostname plus a random suffix), which also names its writes: user agent and field manager
``tmc-controller.<identity>`` (``managedFields`` show it for writes straight to kcp; the virtual workspace
forwards writes under kcp's own name), and the optional write journal (``write_log``, ``tmc.runtime.journal``)
records every write to kcp with that identity.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tmc import __version__, clusters
from tmc.api import EXPORT_NAME
from tmc.controllers.apiexport import controller as apiexport
from tmc.controllers.clusterregistration import controller as clusterregistration
from tmc.controllers.clusterregistration.reconcile import HealthSettings
from tmc.controllers.sync import controller as sync
from tmc.controllers.sync.reconcile import SyncSettings
from tmc.controllers.workloadplacement import controller as workloadplacement
from tmc.errors import ApiError, ConfigError
from tmc.install.desired import TMC_WORKSPACE
from tmc.kcp.kubeconfig import ClusterAccess
from tmc.kcp.resources import API_EXPORT_ENDPOINT_SLICES
from tmc.kcp.rest import JSON, KubeClient
from tmc.kcp.virtual_workspace import VirtualWorkspaceClient, endpoint_urls
from tmc.runtime import Informer, LeaderElector, Manager, RuntimeMetrics, StatusWriter, default_identity
from tmc.runtime.journal import WriteJournal

LEASE_NAME = "tmc-controllers"
LEASE_NAMESPACE = "default"
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ControllerOptions:
    health_host: str = "127.0.0.1"
    health_port: int = 8080
    leader_election: bool = True
    # Empty: hostname plus a random suffix, new for every process (two replicas must never share one).
    identity: str = ""
    # client-go's defaults; need 0 < retry_period < renew_deadline < lease_duration (seconds).
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    # How long a clean stop lets in-flight reconciles finish (while still holding the Lease).
    shutdown_timeout: float = 30.0
    resync_period: float = 60.0
    health: HealthSettings = field(default_factory=HealthSettings)
    cluster_workers: int = 16
    sync: SyncSettings = field(default_factory=SyncSettings)
    sync_workers: int = 32
    # Tenant cluster addresses in these ranges are allowed even if loopback/link-local (tmc.clusters.policy).
    allowed_cluster_cidrs: tuple[str, ...] = ()
    # Append one JSON line per write to kcp here (tmc.runtime.journal): an audit trail naming this process.
    write_log: Path | None = None
    # Test hook, no flag: the HTTP transport of every connection pool to kcp (its virtual workspace URLs
    # included), e.g. tests/e2e/faults.py's, which fails a fraction of status writes. It verifies kcp's
    # certificate itself and is shared by every pool, each of which calls its aclose() when closed: it must
    # outlive that (its owner closes it). None: httpx's own transport per pool, with the kubeconfig's CA.
    kcp_transport: httpx.AsyncBaseTransport | None = None

    def __post_init__(self) -> None:
        if self.leader_election and not 0 < self.retry_period < self.renew_deadline < self.lease_duration:
            raise ConfigError(
                "lease timings: need 0 < retry period < renew deadline < lease duration, got "
                f"{self.retry_period:g} / {self.renew_deadline:g} / {self.lease_duration:g} s"
            )
        if self.shutdown_timeout < 0:
            raise ConfigError(f"shutdown timeout must be >= 0, got {self.shutdown_timeout:g}")


async def run_controllers(access: ClusterAccess, options: ControllerOptions, stop: asyncio.Event) -> None:
    """Runs until ``stop`` is set (the CLI sets it on SIGTERM/SIGINT). ``access``: kcp's base URL."""
    policy = clusters.AddressPolicy.parse(options.allowed_cluster_cidrs)  # a bad flag fails now, not later
    identity = options.identity or default_identity()
    writer_name = f"tmc-controller.{identity}"
    user_agent = f"{writer_name}/{__version__}"
    metrics = RuntimeMetrics()
    journal = WriteJournal(options.write_log, identity) if options.write_log is not None else None
    on_write = journal.record if journal is not None else None
    async with (
        KubeClient(access, user_agent=user_agent, on_write=on_write, transport=options.kcp_transport) as kcp,
        VirtualWorkspaceClient(
            access, user_agent=user_agent, on_write=on_write, transport=options.kcp_transport
        ) as virtual_workspace,
        contextlib.AsyncExitStack() as cleanup,
    ):
        if journal is not None:
            cleanup.callback(journal.close)
        elector = None
        if options.leader_election:
            elector = LeaderElector(
                kcp,
                name=LEASE_NAME,
                namespace=LEASE_NAMESPACE,
                cluster=TMC_WORKSPACE,
                identity=identity,
                lease_duration=options.lease_duration,
                renew_deadline=options.renew_deadline,
                retry_period=options.retry_period,
                metrics=metrics,
            )
        manager = Manager(
            metrics=metrics,
            elector=elector,
            health_address=(options.health_host, options.health_port),
            shutdown_timeout=options.shutdown_timeout,
        )
        if elector is not None:
            manager.add_informer(elector.lease_informer(kcp, metrics=metrics))
        writer = StatusWriter(
            virtual_workspace,
            field_manager=writer_name,
            fence=elector.holds_lease if elector is not None else None,
            metrics=metrics,
        )

        endpoint_slices = manager.add_informer(
            Informer(
                kcp,
                API_EXPORT_ENDPOINT_SLICES,
                cluster=TMC_WORKSPACE,
                resync_period=options.resync_period,
                metrics=metrics,
            )
        )
        follow_endpoint_slice(endpoint_slices, virtual_workspace)
        apiexport.setup(
            manager, kcp, endpoint_slices=endpoint_slices, writer=writer, resync_period=options.resync_period
        )

        # Tenants' clusters may never be kcp itself, whatever ranges the operator allows.
        kcp_addresses = await clusters.resolve_endpoints([access.server, *await _current_urls(kcp)])
        directory = clusters.setup(
            manager,
            virtual_workspace,
            settings=options.health.probe_settings(),
            policy=policy.denying(kcp_addresses),
            resync_period=options.resync_period,
        )
        clusterregistration.setup(
            manager, virtual_workspace, directory, options.health, status=writer, workers=options.cluster_workers
        )
        workloadplacement.setup(manager, virtual_workspace, status=writer, resync_period=options.resync_period)
        _, copy_watches = sync.setup(
            manager,
            virtual_workspace,
            directory,
            status=writer,
            settings=options.sync,
            workers=options.sync_workers,
            resync_period=options.resync_period,
        )

        log.info("controller process %s starting (leader election %s)", identity, "on" if elector else "off")
        async with directory, copy_watches:
            await manager.run(stop)


def follow_endpoint_slice(endpoint_slices: Informer, virtual_workspace: VirtualWorkspaceClient) -> None:
    """Keep the virtual workspace's URLs equal to those the tmc.kcp.io export's endpoint slice lists."""

    def changed(obj: JSON) -> None:
        if obj["metadata"]["name"] == EXPORT_NAME:
            virtual_workspace.set_urls(endpoint_urls(obj))

    def deleted(obj: JSON) -> None:
        if obj["metadata"]["name"] == EXPORT_NAME:
            virtual_workspace.set_urls([])

    endpoint_slices.add_handler(on_add=changed, on_update=lambda old, new: changed(new), on_delete=deleted)


async def _current_urls(kcp: KubeClient) -> list[str]:
    """The slice's URLs now, for the address policy; none if kcp cannot say yet (the watch follows later)."""
    with contextlib.suppress(ApiError):
        return endpoint_urls(await kcp.get(API_EXPORT_ENDPOINT_SLICES, EXPORT_NAME, cluster=TMC_WORKSPACE))
    return []
