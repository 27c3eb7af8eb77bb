"""Fault tests (issue 13, item 1): real kcp and live clusters, something breaks mid-sync, and the state that
results is exactly the desired one (``fleet.Fleet``: no missing copy, no duplicate, no stale or orphaned copy,
no lost deletion, status back on the tenant's objects). Each test is bounded by its own timeouts, stops what
it started, and prints what it measured (recovery times) under ``-s``.

- a cluster behind a loopback proxy that adds a second of latency each way: the other cluster's create ->
  copy latency stays within 2x of the same test's latency without the fault;
- kcp failing a seeded fraction of status writes (5xx and closed connections, before and after applying them,
  ``faults.FlakyTransport``): everything is retried, nothing is lost;
- kcp stopped and started on the same data mid-sync, under controllers that keep running;
- a physical cluster stopped mid-sync: its workloads fail over; started again with its data, its stale copies
  are removed;
- the controller process SIGKILLed at seeded random points while 300 workloads across 10 workspaces are
  being synced, and started again each time (``TMC_FAULT_SEED`` replays the kill points; the seed is printed
  and is in every failure message). Last: the tenants it leaves in the session's kcp would load the others,
  and the latency comparison comes first, on a quiet machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import secrets
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tmc.api import CLUSTER_REGISTRATION
from tmc.controllers.clusterregistration.reconcile import HealthSettings
from tmc.controllers.run import ControllerOptions, run_controllers
from tmc.controllers.sync.naming import MANAGED_LABEL, origin_of
from tmc.install.bind import bind
from tmc.install.install import install
from tmc.kcp.kubeconfig import ClusterAccess
from tmc.kcp.paths import ROOT, LogicalClusterPath
from tmc.kcp.resources import DEPLOYMENTS, resource_of
from tmc.kcp.rest import JSON, KubeClient
from tmc.kcp.watching import wait_for_object
from tmc.kcp.workspaces import ensure_workspace
from tmc.local.embedded import LOCAL_CLUSTER_CIDRS
from tmc.local.kcp_server import KcpServer
from tmc.local.nodes import NodeSpec
from tmc.local.physical_cluster import PhysicalCluster
from tmc.local.ports import free_port
from tmc.runtime import EventHandler, Informer

from .conftest import GRACE, HEARTBEAT, SLACK, SYNC, BoundFactory, ClusterFactory
from .faults import FlakyTransport, TcpProxy
from .fleet import (
    BINDINGS,
    PLACEMENTS,
    Fleet,
    applied_everywhere,
    fleet,
    one_cluster_placement,
    percentile,
    register_access,
)
from .test_leader_handover import LEASE_DURATION, ControllerProcess

pytestmark = pytest.mark.e2e

REGISTRATIONS = resource_of(CLUSTER_REGISTRATION)
SEED_ENV = "TMC_FAULT_SEED"
NAMESPACE = "default"


def _seed() -> int:
    value = os.environ.get(SEED_ENV)
    return int(value) if value else random.SystemRandom().randrange(2**32)


async def _two_clusters(physical_clusters: ClusterFactory) -> tuple[PhysicalCluster, PhysicalCluster]:
    """The fault tests' two live clusters (shared by them; room for every test's pods)."""
    shape = NodeSpec.in_region("us-west", count=2, pods=250)
    return await physical_clusters("fault-a", shape), await physical_clusters("fault-b", shape)


def _ready(obj: JSON) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in obj.get("status", {}).get("conditions", []))


async def _tenant(
    client: KubeClient,
    state: Fleet,
    tenant: LogicalClusterPath,
    clusters: dict[str, tuple[ClusterAccess, str]],
    placements: list[JSON] | None = None,
) -> None:
    """Registers ``clusters`` (name -> access, region) in a bound workspace and creates its placements."""
    for name, (access, region) in clusters.items():
        await register_access(client, tenant, name, access, region)
    for placement in placements or [one_cluster_placement()]:
        await client.create(PLACEMENTS, placement, cluster=tenant, namespace=NAMESPACE)
    await state.add_tenant(tenant)


async def _all_ready(client: KubeClient, tenant: LogicalClusterPath, names: list[str], timeout: float) -> None:
    for name in names:
        await wait_for_object(client, REGISTRATIONS, name, _ready, cluster=tenant, timeout=timeout)


@contextlib.asynccontextmanager
async def _controllers(access: ClusterAccess, **overrides: Any) -> AsyncIterator[asyncio.Task[None]]:
    """The controllers in this process (no leader election unless asked), stopped cleanly on exit."""
    settings: dict[str, Any] = {
        "health_port": free_port(),
        "leader_election": False,
        "health": HealthSettings(heartbeat_period=HEARTBEAT, grace_period=GRACE, probe_timeout=5.0),
        "allowed_cluster_cidrs": LOCAL_CLUSTER_CIDRS,
        "sync": SYNC,
        **overrides,
    }
    stop = asyncio.Event()
    task = asyncio.create_task(run_controllers(access, ControllerOptions(**settings), stop))
    try:
        yield task
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 60)


async def _until(check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached within {timeout:.0f}s")
        await asyncio.sleep(0.25)


async def _equals(value: Awaitable[int], expected: int) -> bool:
    return await value == expected


async def _has_applied(state: Fleet, count: int) -> bool:
    return len(await state.applied()) >= count


# -- a slow cluster ---------------------------------------------------------------------------------------

LATENCY = 1.0  # seconds added to every chunk, each way
FAST, SLOW = 20, 30  # workloads per phase
PACE = 0.25  # seconds between two creates of fast workloads
NOISE = 0.1
# Few sync workers, so that the slow cluster's backlog outnumbers them: were a worker to wait for that cluster,
# none would be left for the fast one. More than a cluster's slots (8): those are busy with the slow copies.
WORKERS = 12


class CopyArrivals:
    """When each copy of the fleet's tenants first appeared on one cluster, by watch."""

    def __init__(self, access: ClusterAccess, logical: str) -> None:
        self.client = KubeClient(access, timeout=10)
        self.logical = logical
        self.seen: dict[str, float] = {}
        self._arrival = asyncio.Event()
        self.informer = Informer(self.client, DEPLOYMENTS, label_selector=f"{MANAGED_LABEL}=true", resync_period=None)
        self.informer.add_handler(EventHandler(on_add=self._added))

    def _added(self, copy: JSON) -> None:
        cluster, _, _, name = origin_of(copy)
        if cluster == self.logical:
            self.seen.setdefault(name, time.monotonic())
            self._arrival.set()

    async def wait(self, name: str, timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while name not in self.seen:
                self._arrival.clear()
                await self._arrival.wait()

    async def __aenter__(self) -> CopyArrivals:
        self.informer.start()
        await self.informer.has_synced.wait()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.informer.stop()
        await self.client.close()


async def test_a_slow_cluster_holds_back_nothing_but_itself(
    tmc_installed: None, kcp_client: KubeClient, new_tenant: BoundFactory, physical_clusters: ClusterFactory
) -> None:
    a, b = await _two_clusters(physical_clusters)
    proxy = TcpProxy("127.0.0.1", b.port)
    await proxy.start()
    async with fleet(kcp_client, {"fast": a.access, "slow": b.access}) as state:
        tenant = await new_tenant("slowcluster")
        placements = [
            one_cluster_placement("to-fast", workloads={"target": "fast"}, clusters={"region": "fast"}),
            one_cluster_placement("to-slow", workloads={"target": "slow"}, clusters={"region": "slow"}),
        ]
        clusters = {"fast": (a.access, "fast"), "slow": (b.access.with_server(proxy.url), "slow")}
        await _tenant(kcp_client, state, tenant, clusters, placements)
        # Probes through the proxy take a few of its round trips: give them time, and the cluster its grace.
        health = HealthSettings(heartbeat_period=HEARTBEAT, grace_period=60.0, probe_timeout=20.0)
        try:
            async with (
                _controllers(kcp_client.access, health=health, sync_workers=WORKERS),
                CopyArrivals(a.access, state.tenants[tenant]) as arrivals,
            ):
                await _all_ready(kcp_client, tenant, ["fast", "slow"], 2 * HEARTBEAT + SLACK)

                async def bindings(prefix: str) -> int:
                    listing = await kcp_client.list(BINDINGS, cluster=tenant, namespace=NAMESPACE)
                    return sum(b["metadata"]["name"].startswith(f"deployment-{prefix}") for b in listing["items"])

                async def phase(label: str) -> tuple[list[float], int]:
                    """A burst of SLOW workloads for the slow cluster, placed (so the sync engine has them all in
                    hand), then FAST ones for the fast cluster at a steady pace: create -> copy on the cluster."""
                    slow = ((tenant, f"{label}-slow{i:02d}") for i in range(SLOW))
                    await state.create_many(slow, labels={"target": "slow"})
                    await _until(lambda: _equals(bindings(f"{label}-slow"), SLOW), SLACK, f"{label}: slow bindings")
                    names = [f"{label}-fast{i:02d}" for i in range(FAST)]
                    for name in names:  # at a steady pace, whatever the engine does meanwhile
                        await asyncio.gather(state.create(tenant, name, {"target": "fast"}), asyncio.sleep(PACE))
                    async with KubeClient(b.access, timeout=10) as direct:
                        copies = await direct.list(DEPLOYMENTS, label_selector=f"{MANAGED_LABEL}=true")
                    done = sum(origin_of(c)[3].startswith(f"{label}-slow") for c in copies["items"])
                    for name in names:
                        await arrivals.wait(name, 60 + SLACK)
                    latencies = [arrivals.seen[name] - state.created_at[(tenant.value, name)] for name in names]
                    return latencies, done

                normal, _ = await phase("normal")
                await state.wait_converged(60 + SLACK, context="before the latency")
                proxy.latency = LATENCY
                slowed, slow_done = await phase("slowed")
                backlog = time.monotonic()
                await state.wait_converged(SLOW * 8 * LATENCY + SLACK, context="the slow cluster's backlog")
                drained = time.monotonic() - backlog
        finally:
            await proxy.stop()
    n50, s50 = statistics.median(normal), statistics.median(slowed)
    print(
        f"\nfast cluster create -> copy: normal p50 {n50 * 1000:.0f} ms p90 {percentile(normal, 90) * 1000:.0f} ms;"
        f" with the other cluster {LATENCY:g}s slower each way: p50 {s50 * 1000:.0f} ms"
        f" p90 {percentile(slowed, 90) * 1000:.0f} ms max {max(slowed) * 1000:.0f} ms (ratio {s50 / n50:.2f});"
        f" {slow_done} of the slow cluster's {SLOW} copies were there when the last fast one was created, the"
        f" rest {drained:.1f}s after every fast copy was"
    )
    assert SLOW - slow_done > WORKERS, "the slow cluster's backlog did not outnumber the workers: nothing proven"
    # Tens of milliseconds either way are the shared machine's noise, not the engine (the stall this test found
    # made it 36 s): twice the normal latency, but never less than NOISE.
    assert s50 <= max(2 * n50, NOISE), (
        f"the fast cluster's latency went from {n50:.3f}s to {s50:.3f}s while another was slow"
    )


# -- kcp failing status writes ----------------------------------------------------------------------------

FAULT_RATE = 0.3


async def test_kcp_failing_a_fraction_of_status_writes_loses_nothing(
    tmc_installed: None, kcp_client: KubeClient, new_tenant: BoundFactory, physical_clusters: ClusterFactory
) -> None:
    seed = _seed()
    context = f"seed {seed} (set {SEED_ENV}={seed} to replay which writes fail)"
    print(f"\n{context}")
    a, b = await _two_clusters(physical_clusters)
    inner = httpx.AsyncHTTPTransport(
        verify=kcp_client.access.ssl_context(), limits=httpx.Limits(max_connections=256, max_keepalive_connections=64)
    )
    flaky = FlakyTransport(inner, rate=FAULT_RATE, seed=seed)
    try:
        async with fleet(kcp_client, {"a": a.access, "b": b.access}) as state:
            tenant = await new_tenant("flakykcp")
            await _tenant(kcp_client, state, tenant, {"a": (a.access, "us-west"), "b": (b.access, "us-west")})
            async with _controllers(kcp_client.access, kcp_transport=flaky):
                await _all_ready(kcp_client, tenant, ["a", "b"], 2 * HEARTBEAT + SLACK + 30)
                started = time.monotonic()
                await state.create_many((tenant, f"w{i:02d}") for i in range(40))
                await _until(lambda: _has_applied(state, 10), 30 + SLACK, f"{context}: 10 applied")
                await asyncio.gather(*(state.delete(tenant, f"w{i:02d}") for i in range(0, 40, 5)))
                for i in range(1, 40, 5):  # a new generation whose status must come back too
                    await kcp_client.merge_patch(
                        DEPLOYMENTS,
                        f"w{i:02d}",
                        {"spec": {"template": {"metadata": {"annotations": {"rev": "2"}}}}},
                        cluster=tenant,
                        namespace=NAMESPACE,
                    )
                changed = time.monotonic()
                await state.wait_converged(120 + SLACK, context=context)
                converged = time.monotonic()
                faults = dict(flaky.injected)
    finally:
        await flaky.close()
    print(
        f"{sum(faults.values())} of {flaky.selected} status writes failed ({faults}); converged"
        f" {converged - changed:.1f}s after the last change, {converged - started:.1f}s after the first create"
    )
    assert sum(faults.values()) >= 20, "too few faults injected to prove anything"


# -- kcp stopped and started mid-sync ---------------------------------------------------------------------


async def test_kcp_stopped_and_started_mid_sync_the_running_controllers_converge(
    own_kcp: KcpServer, physical_clusters: ClusterFactory
) -> None:
    a, b = await _two_clusters(physical_clusters)
    async with KubeClient(own_kcp.access) as client, fleet(client, {"a": a.access, "b": b.access}) as state:
        await install(client)
        tenant = ROOT.join(f"e2e-kcpfault-{secrets.token_hex(3)}")
        await ensure_workspace(client, tenant)
        await bind(client, tenant)
        await _tenant(client, state, tenant, {"a": (a.access, "us-west"), "b": (b.access, "us-west")})
        timings = {"lease_duration": 6.0, "renew_deadline": 4.0, "retry_period": 1.0}
        async with _controllers(own_kcp.access, leader_election=True, **timings) as controllers:
            await _all_ready(client, tenant, ["a", "b"], 2 * HEARTBEAT + SLACK)
            await state.create_many((tenant, f"w{i:03d}") for i in range(100))
            await _until(lambda: _has_applied(state, 20), 60 + SLACK, "20 applied")
            doomed = (await state.applied())[:5]
            await asyncio.gather(*(state.delete(tenant, name) for _, name in doomed))
            applied = len(await state.applied())
            stopped = time.monotonic()
            await own_kcp.stop()
            down = time.monotonic() - stopped
            await own_kcp.start()
            back = time.monotonic()
            print(
                f"\nkcp stopped with {applied}/{len(state.live)} applied (5 deletions just issued); stop took"
                f" {down:.1f}s, start {back - stopped - down:.1f}s"
            )
            # Changes made after the restart reach the clusters too.
            await state.create_many((tenant, f"after{i}") for i in range(10))
            await asyncio.gather(*(state.delete(tenant, f"w{i:03d}") for i in range(90, 95)))
            recovery = await state.wait_converged(RECONNECT + 120, context="after kcp's restart")
            assert not controllers.done(), "the controllers rode out kcp's restart in the same process"
        print(f"converged {time.monotonic() - back:.1f}s after kcp answered again ({recovery:.1f}s of checking)")


# The informers' reconnect backoff is capped at 10 s (+20 % jitter); the Lease is re-taken on the next try.
RECONNECT = 12.0 + 2.0


# -- a physical cluster stopped mid-sync and started again ------------------------------------------------


async def test_a_cluster_stopped_mid_sync_fails_over_and_its_stale_copies_go_when_it_returns(
    tmc_installed: None, kcp_client: KubeClient, new_tenant: BoundFactory, physical_clusters: ClusterFactory
) -> None:
    a, b = await _two_clusters(physical_clusters)
    async with fleet(kcp_client, {"a": a.access, "b": b.access}) as state:
        tenant = await new_tenant("clusterfault")
        await _tenant(kcp_client, state, tenant, {"a": (a.access, "us-west"), "b": (b.access, "us-west")})
        async with _controllers(kcp_client.access):
            await _all_ready(kcp_client, tenant, ["a", "b"], 2 * HEARTBEAT + SLACK)
            creating = asyncio.create_task(state.create_many((tenant, f"w{i:02d}") for i in range(40)))
            await _until(lambda: _on(state, "b", 5), 30 + SLACK, "5 copies on b")
            try:
                on_b = len(await _copies_of(state, b, tenant))
                stopped = time.monotonic()
                await b.stop_apiserver()
                await creating
                print(f"\nb stopped with {on_b} copies on it")
                failover = await state.wait_converged(
                    HEARTBEAT + GRACE + 60 + SLACK, context="failover to a", only={"a"}, allowed={"a"}
                )
                failed_over = time.monotonic() - stopped
                print(f"every workload Applied and Ready on a {failed_over:.1f}s after b stopped")
                returning = time.monotonic()
                await b.start_apiserver()
                started = time.monotonic() - returning
                await state.wait_converged(HEARTBEAT + GRACE + 30 + SLACK, context="stale copies on b", allowed={"a"})
                cleaned = time.monotonic() - returning
                print(
                    f"b's stale copies gone {cleaned:.1f}s after its restart began (kube-apiserver start"
                    f" {started:.1f}s); failover checks took {failover:.1f}s"
                )
            finally:
                if not b.apiserver_running:
                    await b.start_apiserver()


async def _copies_of(state: Fleet, cluster: PhysicalCluster, tenant: LogicalClusterPath) -> list[JSON]:
    async with KubeClient(cluster.access, timeout=10) as direct:
        listing = await direct.list(DEPLOYMENTS, label_selector=f"{MANAGED_LABEL}=true")
    return [c for c in listing["items"] if origin_of(c)[0] == state.tenants[tenant]]


async def _on(state: Fleet, registration: str, count: int) -> bool:
    done = 0
    for tenant in state.tenants:
        for binding in (await state.kcp.list(BINDINGS, cluster=tenant, namespace=NAMESPACE))["items"]:
            chosen = [c["name"] for c in binding.get("spec", {}).get("clusters", [])]
            done += chosen == [registration] and applied_everywhere(binding)
    return done >= count


# -- the controller SIGKILLed at random points -----------------------------------------------------------

TENANTS, PER_TENANT, DELETED, LATE, KILLS = 10, 30, 20, 10, 3


async def _leading(controller: ControllerProcess, timeout: float) -> float:
    """Waits until the process says it leads (``/readyz?verbose``); returns when that was seen."""

    async def leads() -> bool:
        try:
            status, body = await controller.readyz()
        except httpx.HTTPError:
            return False
        return status == 200 and body.strip().splitlines()[-1].startswith("leader")

    await _until(leads, timeout, f"{controller.process.name} leads")
    return time.monotonic()


async def test_the_controller_sigkilled_at_random_points_while_syncing_300_workloads_ends_in_the_desired_state(
    tmc_installed: None,
    kcp: KcpServer,
    kcp_client: KubeClient,
    new_tenant: BoundFactory,
    physical_clusters: ClusterFactory,
    tmp_path: Path,
    controller_logs: list[ControllerProcess],
) -> None:
    seed = _seed()
    rng = random.Random(seed)
    context = f"seed {seed} (set {SEED_ENV}={seed} to replay these kill points)"
    print(f"\n{context}")
    a, b = await _two_clusters(physical_clusters)
    async with fleet(kcp_client, {"a": a.access, "b": b.access}) as state:
        tenants = list(await asyncio.gather(*(new_tenant(f"kill{i}") for i in range(TENANTS))))
        clusters = {"a": (a.access, "us-west"), "b": (b.access, "us-west")}
        await asyncio.gather(*(_tenant(kcp_client, state, tenant, clusters) for tenant in tenants))

        async def start(round_number: int) -> ControllerProcess:
            controller = ControllerProcess(f"controller-{round_number}", kcp, tmp_path)
            controller_logs.append(controller)
            await controller.process.start()
            return controller

        names = [(tenant, f"w{i:02d}") for i in range(PER_TENANT) for tenant in tenants]  # workspaces interleaved
        began = time.monotonic()
        creating = asyncio.create_task(state.create_many(names))
        controller = await start(0)
        kills: list[str] = []
        restarted = began
        try:
            for round_number in range(KILLS):
                # A killed leader's Lease must expire before the next process leads.
                await _leading(controller, 2 * LEASE_DURATION + SLACK)
                if round_number == KILLS - 1:
                    await creating
                    await _until(lambda: _has_applied(state, DELETED), 60 + SLACK, f"{context}: {DELETED} applied")
                    doomed = rng.sample(await state.applied(), DELETED)
                    # Also workloads deleted right after their create: their copies may be applied but not yet
                    # recorded when the process dies.
                    late = [(tenants[i % TENANTS], f"late{i}") for i in range(LATE)]
                    await state.create_many(late)
                    await asyncio.sleep(rng.uniform(0.0, 1.0))
                    doomed += [(t.value, n) for t, n in late]
                    await asyncio.gather(*(state.delete(LogicalClusterPath(t), n) for t, n in doomed))
                    delay = rng.uniform(0.0, 1.0)
                else:
                    delay = rng.uniform(0.0, 5.0)
                await asyncio.sleep(delay)  # the random kill point, not a wait for anything
                controller.kill()
                applied = len(await state.applied())
                kills.append(
                    f"kill {round_number + 1}: {delay:.2f}s after leading, {time.monotonic() - began:.1f}s in,"
                    f" {applied}/{len(state.live)} live workloads applied"
                    + (f", {DELETED} + {LATE} deletions issued just before" if round_number == KILLS - 1 else "")
                )
                print(kills[-1])
                controller = await start(round_number + 1)
                restarted = time.monotonic()
            led = await _leading(controller, 2 * LEASE_DURATION + SLACK)
            recovery = await state.wait_converged(240, context=f"{context}; {'; '.join(kills)}")
            converged = time.monotonic()
        finally:
            await controller.process.stop()  # before the fleet's copies are removed, or it would restore them
        total = converged - restarted
        print(
            f"after the last SIGKILL: led again {led - restarted:.1f}s after its restart; desired state"
            f" ({len(state.live)} live, {len(state.deleted)} deleted, {2 * TENANTS} registrations) reached"
            f" {total:.1f}s after the restart ({recovery:.1f}s after leading); from the first create"
            f" {converged - began:.1f}s"
        )
