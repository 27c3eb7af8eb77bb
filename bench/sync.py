"""Bench: N Deployments across W tenant workspaces, synced by ``tmc controller`` onto C live clusters.

Starts real kcp and C live clusters (kube-apiserver, controller-manager, scheduler, kwok nodes sized so every
replica fits), installs TMC, binds W workspaces, registers every cluster in each and gives each workspace one
``RoundRobin`` WorkloadPlacement choosing exactly one cluster per workload (so the copies spread). Then:

1. **The floor**, measured first, while no controller runs: sequential creates of the bench's own Deployment
   body in a bound workspace of kcp, and direct creates of it on the clusters (``--floor-samples`` each, a few
   warm-up creates not counted). One create in kcp plus one direct create on a cluster is the least any
   create -> present-on-cluster path can take; the floor's p50 (p99) is the sum of the two p50s (p99s).
   The floor's objects are deleted (and waited for) before the controller starts.
2. ``tmc controller`` starts as a separate process (``--allow-cluster-cidr`` for loopback); the bench waits
   until it is ready, leads, and every registration is Ready.
3. One watch per cluster, across all namespaces, on Deployments labelled ``tmc.kcp.io/managed=true``, and one
   watch on WorkloadBindings through the ``tmc.kcp.io`` virtual workspace; both are listed before the first
   create, so nothing is missed and an event's arrival time is when the bench learns of it.
4. N Deployments are created (``--create-concurrency`` at a time, workspaces interleaved); each records when
   its create was sent. A copy is matched to its source by its origin annotations (logical cluster,
   namespace, name) and checked to sit in the namespace ``Locator`` maps it to.

Reported: create -> present-on-cluster latency p50/p90/p99/max beside the floor and their ratios (goals: p50
<= 2x, p99 <= 5x); time from the first create until every binding reports ``Applied`` on its cluster at the
binding's generation (goal < 60 s), and until every tenant's Deployment (watched through the virtual workspace)
shows its copy rolled out; status latency under load, from a copy first seen rolled out on its cluster to its
tenant's object first seen so; controller peak RSS (``VmHWM``, goal < 300 MB) and CPU seconds (user + system,
from ``/proc``) over the window; requests sent to kcp and
to each cluster over that window (``apiserver_request_total`` deltas). kcp's count includes the bench's own
creates, which are subtracted; a cluster's count includes its controller-manager, scheduler and kwok (pods
being rolled out), so ``APPLY`` requests (server-side apply: only TMC's syncer uses it here) and requests on
namespaces are shown apart. Goals missed print NOT MET; the exit status is non-zero only if the bench could
not run.

    flock /tmp/tmc-e2e.lock .venv/bin/python bench/sync.py [--workloads 1000] [--workspaces 20] [--clusters 3]

As a module (``python -m bench`` does this): ``async with session(options) as s`` gives running servers, tenants,
the floor and a leading controller; ``run_workloads(s)`` measures; ``figures(...)`` returns the headline numbers;
further measurements (status at rest, failover) run in the same session.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from tmc.api import CLUSTER_REGISTRATION, WORKLOAD_BINDING, WORKLOAD_PLACEMENT, binding_name
from tmc.controllers.sync.naming import MANAGED_LABEL, ORIGIN_CLUSTER, ORIGIN_NAME, ORIGIN_NAMESPACE, Locator
from tmc.errors import GoneError
from tmc.install.bind import bind
from tmc.install.install import install
from tmc.kcp.paths import ALL_CLUSTERS, ROOT, LogicalClusterPath
from tmc.kcp.resources import DEPLOYMENTS, LOGICAL_CLUSTERS, NAMESPACES, Resource, resource_of
from tmc.kcp.rest import JSON, KubeClient
from tmc.kcp.virtual_workspace import export_virtual_workspace_url
from tmc.kcp.workspaces import ensure_workspace
from tmc.local.embedded import register
from tmc.local.kcp_server import KcpServer
from tmc.local.nodes import NodeSpec
from tmc.local.physical_cluster import PhysicalCluster
from tmc.local.ports import free_port

PLACEMENTS = resource_of(WORKLOAD_PLACEMENT)
REGISTRATIONS = resource_of(CLUSTER_REGISTRATION)
BINDINGS = resource_of(WORKLOAD_BINDING)
MUTATING_VERBS = {"POST", "PUT", "PATCH", "DELETE", "APPLY", "CREATE", "UPDATE", "DELETECOLLECTION"}
NAMESPACE = "default"
FLOOR_NAMESPACE = "bench-floor"
FLOOR_WARMUP = 5
PODS_PER_NODE = 110
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# The controller's defaults, passed explicitly because a failover measurement depends on them.
HEARTBEAT_S, GRACE_S = 10.0, 30.0
GOAL_P50_RATIO, GOAL_P99_RATIO, GOAL_CONVERGED_S, GOAL_RSS_MB = 2.0, 5.0, 60.0, 300.0

console = Console(width=150)
WorkloadKey = tuple[str, str, str]  # (logical cluster, namespace, name) of a tenant's Deployment


def deployment(name: str, replicas: int, namespace: str) -> JSON:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name, "bench": "sync"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]},
            },
        },
    }


def placement() -> JSON:
    return {
        "apiVersion": "tmc.kcp.io/v1alpha1",
        "kind": "WorkloadPlacement",
        "metadata": {"name": "bench", "namespace": NAMESPACE},
        "spec": {
            "strategy": "RoundRobin",
            "workloadSelector": {"resources": [{"apiVersion": "apps/v1", "kind": "Deployment"}]},
            "capabilityRequirements": [{"type": "compute", "required": True}],
            "numberOfClusters": {"min": 1, "max": 1},
        },
    }


# -- small measurement helpers -----------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (no interpolation: every reported figure is one that was measured)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def rss_kib(pid: int, field_name: str) -> int:
    status = Path(f"/proc/{pid}/status")
    if not status.exists():
        raise SystemExit(f"the controller process {pid} exited; see its log")
    for line in status.read_text().splitlines():
        if line.startswith(field_name):
            return int(line.split()[1])
    return 0


def samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    """Samples of one metric from a Prometheus text exposition (enough of the format for counters)."""
    found = []
    for line in text.splitlines():
        if not line.startswith(name) or line[len(name) : len(name) + 1] not in ("{", " "):
            continue
        head, _, value = line.rpartition(" ")
        labels: dict[str, str] = {}
        if "{" in head:
            for pair in head[head.index("{") + 1 : head.rindex("}")].split('",'):
                key, _, raw = pair.partition("=")
                labels[key.strip(",")] = raw.strip('"')
        found.append((labels, float(value)))
    return found


RequestCounts = Counter[tuple[str, str, str]]  # (verb, resource, subresource) -> requests


async def request_counts(client: KubeClient) -> RequestCounts:
    status, text = await client.get_raw("/metrics")
    if status != 200:
        raise SystemExit(f"GET {client.access.server}/metrics answered {status}")
    counts: RequestCounts = Counter()
    for labels, value in samples(text, "apiserver_request_total"):
        counts[(labels.get("verb", ""), labels.get("resource", ""), labels.get("subresource", ""))] += int(value)
    return counts


async def controller_metric(port: int, name: str, **match: str) -> float:
    return metric_sum(await controller_metrics(port), name, **match)


async def controller_metrics(port: int) -> str:
    async with httpx.AsyncClient() as http:
        return (await http.get(f"http://127.0.0.1:{port}/metrics")).text


def metric_sum(text: str, name: str, **match: str) -> float:
    return sum(v for labels, v in samples(text, name) if all(labels.get(k) == want for k, want in match.items()))


def by_labels(text: str, name: str, *keys: str) -> dict[tuple[str, ...], float]:
    totals: dict[tuple[str, ...], float] = {}
    for labels, value in samples(text, name):
        key = tuple(labels.get(k, "") for k in keys)
        totals[key] = totals.get(key, 0.0) + value
    return totals


def delta(before: str, after: str, name: str, *keys: str) -> dict[tuple[str, ...], float]:
    start = by_labels(before, name, *keys)
    return {key: value - start.get(key, 0.0) for key, value in by_labels(after, name, *keys).items()}


# -- watching ----------------------------------------------------------------------------------------------


async def list_and_watch(
    client: KubeClient,
    resource: Resource,
    on_object: Callable[[str, JSON], None],
    listed: asyncio.Event,
    *,
    cluster: LogicalClusterPath | None = None,
    label_selector: str | None = None,
) -> None:
    """Feed every object of ``resource`` (initial list, then watch events) to ``on_object(type, obj)`` until
    cancelled; ``listed`` is set once the first list is in, so a caller knows no later change can be missed."""
    params = {"labelSelector": label_selector} if label_selector else {}
    while True:
        listing = await client.list(resource, cluster=cluster, params=params)
        for item in listing.get("items") or []:
            on_object("ADDED", item)
        listed.set()
        version = listing["metadata"]["resourceVersion"]
        try:
            while True:  # a watch that ends (its timeout) is resumed from the last version seen
                async for event in client.watch(resource.path(cluster), resource_version=version, params=params):
                    obj = event["object"]
                    version = obj["metadata"].get("resourceVersion", version)
                    if event["type"] != "BOOKMARK":
                        on_object(event["type"], obj)
        except GoneError:
            continue


def applied_everywhere(binding: JSON) -> bool:
    wanted = {c["name"] for c in binding.get("spec", {}).get("clusters", [])}
    status = binding.get("status") or {}
    done = {c["name"] for c in status.get("clusters", []) if c.get("applied") and c.get("reason") == "Applied"}
    generation_seen = status.get("observedGeneration") == binding["metadata"].get("generation")
    return bool(wanted) and wanted <= done and generation_seen


def rolled_out(obj: JSON) -> bool:
    """A Deployment whose controller observed its generation and has every wanted replica available: on a
    cluster, the copy's own controller; in kcp, the status TMC brings back to the tenant's object."""
    status = obj.get("status") or {}
    wanted = int((obj.get("spec") or {}).get("replicas", 1))
    observed = status.get("observedGeneration")
    return (
        observed is not None
        and observed >= obj["metadata"].get("generation", 0)
        and int(status.get("availableReplicas") or 0) >= wanted
    )


def registration_ready(obj: JSON) -> bool:
    conditions = (obj.get("status") or {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


@dataclass
class Observations:
    """What the watches saw, keyed by the tenant's Deployment; times are ``time.monotonic()``."""

    expected: set[WorkloadKey]
    registrations: dict[str, str]  # physical cluster name -> registration name (the same in every tenant)
    created: dict[WorkloadKey, float] = field(default_factory=dict)
    seen: dict[WorkloadKey, tuple[float, str]] = field(default_factory=dict)
    bound: dict[WorkloadKey, float] = field(default_factory=dict)  # its WorkloadBinding first seen
    converged: dict[WorkloadKey, float] = field(default_factory=dict)
    copy_ready: dict[WorkloadKey, float] = field(default_factory=dict)  # its copy first seen rolled out
    tenant_ready: dict[WorkloadKey, float] = field(default_factory=dict)  # its own status first seen rolled out
    wrong_namespace: list[str] = field(default_factory=list)
    # At rest: a probe workload -> resolved with the moment its copy is first seen on a cluster.
    probes: dict[WorkloadKey, asyncio.Future[float]] = field(default_factory=dict)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    by_binding: dict[WorkloadKey, WorkloadKey] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_binding = {(c, ns, binding_name("Deployment", name)): (c, ns, name) for c, ns, name in self.expected}

    def on_copy(self, cluster: str) -> Callable[[str, JSON], None]:
        def handle(event: str, obj: JSON) -> None:
            if event == "DELETED":
                return
            annotations = obj["metadata"].get("annotations") or {}
            key = (
                annotations.get(ORIGIN_CLUSTER, ""),
                annotations.get(ORIGIN_NAMESPACE, ""),
                annotations.get(ORIGIN_NAME, ""),
            )
            probe = self.probes.get(key)
            if probe is not None and not probe.done():
                probe.set_result(time.monotonic())
            if key not in self.expected:
                return
            if key not in self.seen:
                self.seen[key] = (time.monotonic(), cluster)
                mapped = Locator(key[0], key[1], self.registrations[cluster]).physical_namespace
                if obj["metadata"]["namespace"] != mapped:
                    self.wrong_namespace.append(f"{key} on {cluster} in {obj['metadata']['namespace']}, not {mapped}")
            if key not in self.copy_ready and rolled_out(obj):
                self.copy_ready[key] = time.monotonic()
            self._check()

        return handle

    def on_binding(self, event: str, obj: JSON) -> None:
        if event == "DELETED":
            return
        metadata = obj["metadata"]
        logical = (metadata.get("annotations") or {}).get("kcp.io/cluster", "")
        key = self.by_binding.get((logical, metadata.get("namespace", ""), metadata["name"]))
        if key is None:
            return
        self.bound.setdefault(key, time.monotonic())
        if key not in self.converged and applied_everywhere(obj):
            self.converged[key] = time.monotonic()
            self._check()

    def on_tenant_object(self, event: str, obj: JSON) -> None:
        if event == "DELETED":
            return
        metadata = obj["metadata"]
        key = (
            (metadata.get("annotations") or {}).get("kcp.io/cluster", ""),
            metadata.get("namespace", ""),
            metadata["name"],
        )
        if key in self.expected and key not in self.tenant_ready and rolled_out(obj):
            self.tenant_ready[key] = time.monotonic()
            self._check()

    def _check(self) -> None:
        if all(len(seen) == len(self.expected) for seen in (self.seen, self.converged, self.tenant_ready)):
            self.done.set()


# -- phases ------------------------------------------------------------------------------------------------


@dataclass
class Tenant:
    path: LogicalClusterPath
    logical: str  # the logical cluster name copies carry in their origin annotation


async def setup_tenant(
    client: KubeClient, path: LogicalClusterPath, clusters: dict[str, PhysicalCluster], *, with_placement: bool
) -> Tenant:
    await ensure_workspace(client, path)
    await bind(client, path)
    for name, cluster in clusters.items():
        await register(client, path, name, cluster)
    if with_placement:
        await client.create(PLACEMENTS, placement(), cluster=path, namespace=NAMESPACE)
    logical = await client.get(LOGICAL_CLUSTERS, "cluster", cluster=path)
    return Tenant(path, str(logical["metadata"]["annotations"]["kcp.io/cluster"]))


@dataclass
class Floor:
    kcp_ms: list[float]
    cluster_ms: list[float]

    @property
    def p50(self) -> float:
        return percentile(self.kcp_ms, 50) + percentile(self.cluster_ms, 50)

    @property
    def p99(self) -> float:
        return percentile(self.kcp_ms, 99) + percentile(self.cluster_ms, 99)


async def measure_floor(
    client: KubeClient, tenant: LogicalClusterPath, clusters: list[PhysicalCluster], count: int, replicas: int
) -> Floor:
    """Sequential, idle creates: the bench's Deployment in a kcp workspace, and directly on the clusters (round
    robin). The first ``FLOOR_WARMUP`` of each are not counted (connection set-up, cold caches)."""
    kcp_ms: list[float] = []
    cluster_ms: list[float] = []
    direct = [KubeClient(c.access) for c in clusters]
    try:
        for d in direct:
            await d.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": FLOOR_NAMESPACE}})
        for i in range(count + FLOOR_WARMUP):
            name = f"floor-{i:04d}"
            started = time.perf_counter()
            await client.create(DEPLOYMENTS, deployment(name, replicas, NAMESPACE), cluster=tenant, namespace=NAMESPACE)
            middle = time.perf_counter()
            await direct[i % len(direct)].create(
                DEPLOYMENTS, deployment(name, replicas, FLOOR_NAMESPACE), namespace=FLOOR_NAMESPACE
            )
            ended = time.perf_counter()
            if i >= FLOOR_WARMUP:
                kcp_ms.append((middle - started) * 1000)
                cluster_ms.append((ended - middle) * 1000)
        # Leave nothing behind that the controller or the clusters would work on during the measured window.
        for i in range(count + FLOOR_WARMUP):
            await client.delete(DEPLOYMENTS, f"floor-{i:04d}", cluster=tenant, namespace=NAMESPACE)
        for d in direct:
            await d.delete(NAMESPACES, FLOOR_NAMESPACE)
        await asyncio.gather(*(namespace_gone(d, FLOOR_NAMESPACE) for d in direct))
    finally:
        for d in direct:
            await d.close()
    return Floor(kcp_ms, cluster_ms)


async def namespace_gone(client: KubeClient, name: str) -> None:
    by_name = {"fieldSelector": f"metadata.name={name}"}
    while True:
        listing = await client.list(NAMESPACES, params=by_name)
        if not listing.get("items"):
            return
        try:
            async for event in client.watch(
                NAMESPACES.path(), resource_version=listing["metadata"]["resourceVersion"], params=by_name
            ):
                if event["type"] == "DELETED":
                    return
        except GoneError:
            continue


async def start_controller(kcp: KcpServer, health_port: int, log_path: Path) -> asyncio.subprocess.Process:
    with log_path.open("wb") as log:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tmc.cli.main",
            "controller",
            "--kubeconfig",
            str(kcp.admin_kubeconfig_path),
            "--health-port",
            str(health_port),
            "--heartbeat-period",
            str(HEARTBEAT_S),
            "--grace-period",
            str(GRACE_S),
            "--allow-cluster-cidr",
            "127.0.0.0/8",
            "--log-level",
            "WARNING",
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
            env={**os.environ},
        )


async def controller_leading(controller: asyncio.subprocess.Process, port: int, timeout: float) -> None:
    """Until ``/readyz`` answers 200 and the process holds the Lease. An HTTP endpoint has no watch: probed."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=5) as http:
        while True:
            if controller.returncode is not None:
                raise SystemExit(f"tmc controller exited with {controller.returncode}; see its log")
            with contextlib.suppress(httpx.HTTPError):
                ready = (await http.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200
                if ready and await controller_metric(port, "tmc_leader") >= 1:
                    return
            if time.monotonic() > deadline:
                raise SystemExit(f"tmc controller not ready and leading within {timeout:.0f}s")
            await asyncio.sleep(0.2)  # a bench probe, not product code


async def registrations_ready(vw: KubeClient, expected: int, timeout: float) -> None:
    ready: dict[tuple[str, str], bool] = {}
    enough = asyncio.Event()

    def on_registration(event: str, obj: JSON) -> None:
        key = ((obj["metadata"].get("annotations") or {}).get("kcp.io/cluster", ""), obj["metadata"]["name"])
        ready[key] = event != "DELETED" and registration_ready(obj)
        if sum(ready.values()) >= expected:
            enough.set()

    watcher = asyncio.create_task(
        list_and_watch(vw, REGISTRATIONS, on_registration, asyncio.Event(), cluster=ALL_CLUSTERS)
    )
    try:
        await asyncio.wait_for(enough.wait(), timeout)
    except TimeoutError:
        raise SystemExit(f"only {sum(ready.values())}/{expected} registrations Ready within {timeout:.0f}s") from None
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher


def node_spec(workloads: int, replicas: int, clusters: int, nodes: int | None) -> NodeSpec:
    """Enough kwok nodes that each cluster can hold 1.5x its even share of the pods (RoundRobin is not exact)."""
    share = math.ceil(workloads * replicas / clusters)
    count = nodes if nodes is not None else max(2, math.ceil(1.5 * share / PODS_PER_NODE))
    return NodeSpec.in_region("bench", count=count, pods=PODS_PER_NODE)


# -- the run -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    workloads: int
    workspaces: int
    clusters: int
    replicas: int
    nodes: int | None
    create_concurrency: int
    floor_samples: int
    timeout: float
    keep: bool
    rest_samples: int = 20  # sequential creates once the burst converged: one workload's own path


@dataclass
class Session:
    """Servers, tenants and a running controller, ready for workloads; the floor was measured before it started."""

    options: Options
    kcp: KcpServer
    physical: dict[str, PhysicalCluster]
    client: KubeClient  # kcp, as its admin
    vw: KubeClient  # the tmc.kcp.io virtual workspace: every bound tenant, the controller's own view
    tenants: list[Tenant]
    floor: Floor
    controller: asyncio.subprocess.Process
    health_port: int
    controller_log: Path


@contextlib.asynccontextmanager
async def session(options: Options) -> AsyncIterator[Session]:
    """Start kcp and the clusters, set up the tenants, measure the floor, start the controller and wait until it
    leads and every registration is Ready; stop it all on the way out."""
    work = Path(tempfile.mkdtemp(prefix="tmc-bench-sync-"))
    controller_log = Path(tempfile.mkstemp(prefix="tmc-bench-sync-controller-", suffix=".log")[1])
    nodes = node_spec(options.workloads, options.replicas, options.clusters, options.nodes)
    kcp = KcpServer(work / "kcp")
    physical = {
        f"cluster-{i}": PhysicalCluster(f"bench-{i}", work / f"cluster-{i}", nodes=nodes)
        for i in range(options.clusters)
    }
    console.print(
        f"starting kcp and {options.clusters} clusters ({nodes.count} kwok nodes x {nodes.pods} pods each) in {work}"
    )
    started = time.monotonic()
    controller: asyncio.subprocess.Process | None = None
    try:
        await asyncio.gather(kcp.start(), *(c.start() for c in physical.values()))
        async with KubeClient(kcp.access) as client:
            await install(client)
            limit = asyncio.Semaphore(4)

            async def one(index: int) -> Tenant:
                async with limit:
                    return await setup_tenant(client, ROOT.join(f"bench-sync-{index}"), physical, with_placement=True)

            tenants = await asyncio.gather(*(one(i) for i in range(options.workspaces)))
            floor_ws = ROOT.join("bench-sync-floor")
            await ensure_workspace(client, floor_ws)
            await bind(client, floor_ws)
            console.print(
                f"setup: kcp + clusters + {options.workspaces} bound workspaces, {options.clusters} registrations and"
                f" 1 placement each, in {time.monotonic() - started:.0f}s"
            )

            floor = await measure_floor(
                client, floor_ws, list(physical.values()), options.floor_samples, options.replicas
            )
            console.print(
                f"floor ({len(floor.kcp_ms)} samples each, idle): kcp create p50 {percentile(floor.kcp_ms, 50):.1f} ms"
                f" p99 {percentile(floor.kcp_ms, 99):.1f} ms; cluster create p50"
                f" {percentile(floor.cluster_ms, 50):.1f} ms p99 {percentile(floor.cluster_ms, 99):.1f} ms"
            )

            health_port = free_port()
            controller = await start_controller(kcp, health_port, controller_log)
            controller_started = time.monotonic()
            await controller_leading(controller, health_port, timeout=180)
            url = await export_virtual_workspace_url(client, ROOT.join("tmc"), "tmc.kcp.io")
            async with KubeClient(kcp.access.with_server(url)) as vw:
                await registrations_ready(vw, options.workspaces * options.clusters, timeout=180)
                console.print(
                    f"controller ready, leading, {options.workspaces * options.clusters} registrations Ready after"
                    f" {time.monotonic() - controller_started:.1f}s (log: {controller_log})"
                )
                yield Session(
                    options, kcp, physical, client, vw, list(tenants), floor, controller, health_port, controller_log
                )
    finally:
        if controller is not None and controller.returncode is None:
            controller.terminate()
            await controller.wait()
        await asyncio.gather(kcp.stop(), *(c.stop() for c in physical.values()))
        if not options.keep:
            shutil.rmtree(work, ignore_errors=True)


async def main(options: Options) -> None:
    async with session(options) as s:
        result = await run_workloads(s)
    report(options, s.floor, result)


@dataclass
class Result:
    observations: Observations
    first_create: float
    last_create: float
    ended: float
    kcp_requests: RequestCounts
    cluster_requests: dict[str, RequestCounts]
    bench_kcp_requests: int
    rss_before_mb: float
    rss_peak_mb: float
    cpu_s: float  # the controller's CPU seconds (user + system) in the window
    cpu_total_s: float  # ... since it started
    spent: CpuSample  # the window's CPU seconds, controller / kcp / clusters / machine
    rest_ms: list[float]  # create -> copy seen on its cluster, one workload at a time after convergence
    controller_before: str  # the controller's /metrics text at the window's start and end
    controller_after: str
    timed_out: bool


def cpu_seconds(pid: int, what: str = "the controller process") -> float:
    """User + system CPU seconds of a process (all its threads) so far."""
    stat = Path(f"/proc/{pid}/stat")
    if not stat.exists():
        raise SystemExit(f"{what} {pid} exited; see its log")
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent not idle so far (``/proc/stat``: user nice system idle iowait irq softirq steal)."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / CLOCK_TICKS


@dataclass(frozen=True)
class CpuSample:
    """Where the machine's CPU went: the controller, kcp, each cluster (its 5 processes), everything."""

    controller: float
    kcp: float
    clusters: dict[str, float]
    machine: float

    @staticmethod
    def take(s: Session) -> CpuSample:
        kcp = s.kcp.process
        if kcp is None or kcp.pid is None:
            raise SystemExit("kcp is not running")
        return CpuSample(
            controller=cpu_seconds(s.controller.pid),
            kcp=cpu_seconds(kcp.pid, "kcp"),
            clusters={
                name: sum(cpu_seconds(pid, f"a process of {name}") for pid in c.pids())
                for name, c in s.physical.items()
            },
            machine=machine_busy_seconds(),
        )

    def __sub__(self, before: CpuSample) -> CpuSample:
        return CpuSample(
            controller=self.controller - before.controller,
            kcp=self.kcp - before.kcp,
            clusters={name: spent - before.clusters[name] for name, spent in self.clusters.items()},
            machine=self.machine - before.machine,
        )


async def watch_all(
    watches: list[tuple[KubeClient, Resource, Callable[[str, JSON], None], LogicalClusterPath | None, str | None]],
) -> list[asyncio.Task[None]]:
    """Start ``list_and_watch`` for each (client, resource, handler, cluster, label selector); return once every
    first list is in, so no later change is missed."""
    tasks, listed = [], []
    for client, resource, handler, cluster, selector in watches:
        event = asyncio.Event()
        tasks.append(
            asyncio.create_task(
                list_and_watch(client, resource, handler, event, cluster=cluster, label_selector=selector)
            )
        )
        listed.append(event)
    try:
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in listed)), 60)
    except BaseException:
        await cancel(tasks)
        raise
    return tasks


async def cancel(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def measure_at_rest(s: Session, observations: Observations, samples: int) -> list[float]:
    """Create -> copy on its cluster for one workload at a time, once the burst converged (outside the window).

    The burst figures are queueing behind 1,000 creates; this is the path of a single workload, what the floor
    compares with: the placement controller's binding write, then the sync engine's apply, with nothing ahead.
    """
    tenant = s.tenants[0]
    loop = asyncio.get_running_loop()
    latencies = []
    for index in range(samples):
        name = f"rest-{index:03d}"
        arrived: asyncio.Future[float] = loop.create_future()
        observations.probes[(tenant.logical, NAMESPACE, name)] = arrived
        started = time.monotonic()
        await s.client.create(
            DEPLOYMENTS, deployment(name, s.options.replicas, NAMESPACE), cluster=tenant.path, namespace=NAMESPACE
        )
        latencies.append((await asyncio.wait_for(arrived, 60) - started) * 1000)
    return latencies


async def run_workloads(s: Session) -> Result:
    options = s.options
    plan = [
        (s.tenants[i % len(s.tenants)], f"w-{i:05d}") for i in range(options.workloads)
    ]  # interleaved: successive creates go to different workspaces, as independent tenants' would
    observations = Observations(
        expected={(t.logical, NAMESPACE, name) for t, name in plan},
        registrations={name: name for name in s.physical},
    )
    direct = {name: KubeClient(c.access) for name, c in s.physical.items()}
    watchers: list[asyncio.Task[None]] = []
    try:
        managed = f"{MANAGED_LABEL}=true"
        watchers = await watch_all(
            [(c, DEPLOYMENTS, observations.on_copy(name), None, managed) for name, c in direct.items()]
            + [
                (s.vw, BINDINGS, observations.on_binding, ALL_CLUSTERS, None),
                (s.vw, DEPLOYMENTS, observations.on_tenant_object, ALL_CLUSTERS, None),
            ]
        )

        kcp_before = await request_counts(s.client)
        clusters_before = {name: await request_counts(c) for name, c in direct.items()}
        rss_before = rss_kib(s.controller.pid, "VmRSS:") / 1000
        cpu_before = cpu_seconds(s.controller.pid)
        spent_before = CpuSample.take(s)
        metrics_before = await controller_metrics(s.health_port)

        limit = asyncio.Semaphore(options.create_concurrency)

        async def create(tenant: Tenant, name: str) -> None:
            async with limit:
                observations.created[(tenant.logical, NAMESPACE, name)] = time.monotonic()
                await s.client.create(
                    DEPLOYMENTS, deployment(name, options.replicas, NAMESPACE), cluster=tenant.path, namespace=NAMESPACE
                )

        first_create = time.monotonic()
        await asyncio.gather(*(create(t, name) for t, name in plan))
        last_create = time.monotonic()
        console.print(
            f"created {options.workloads} Deployments in {last_create - first_create:.1f}s"
            f" ({options.workloads / (last_create - first_create):.0f}/s, {options.create_concurrency} at a time)"
        )
        timed_out = False
        try:
            await asyncio.wait_for(observations.done.wait(), max(1.0, options.timeout - (last_create - first_create)))
        except TimeoutError:
            timed_out = True
        ended = time.monotonic()
        cpu_after = cpu_seconds(s.controller.pid)
        spent = CpuSample.take(s) - spent_before
        kcp_after = await request_counts(s.client)
        clusters_after = {name: await request_counts(c) for name, c in direct.items()}
        metrics_after = await controller_metrics(s.health_port)
        rest_ms = [] if timed_out else await measure_at_rest(s, observations, options.rest_samples)
        return Result(
            observations=observations,
            first_create=first_create,
            last_create=last_create,
            ended=ended,
            kcp_requests=kcp_after - kcp_before,
            cluster_requests={name: clusters_after[name] - clusters_before[name] for name in direct},
            bench_kcp_requests=options.workloads + 1,  # the creates, and the /metrics read in between
            rss_before_mb=rss_before,
            rss_peak_mb=rss_kib(s.controller.pid, "VmHWM:") / 1000,
            cpu_s=cpu_after - cpu_before,
            cpu_total_s=cpu_after,
            spent=spent,
            rest_ms=rest_ms,
            controller_before=metrics_before,
            controller_after=metrics_after,
            timed_out=timed_out,
        )
    finally:
        await cancel(watchers)
        for c in direct.values():
            await c.close()


@dataclass(frozen=True)
class Figures:
    """The headline numbers of a run (milliseconds unless named otherwise)."""

    workloads: int
    workspaces: int
    clusters: int
    floor_p50: float
    floor_p99: float
    p50: float
    p99: float
    copies_seen: int
    status_p50: float  # a copy rolled out on its cluster -> the tenant's object shows it rolled out
    status_p99: float
    status_samples: int
    converged_s: float  # first create -> every binding Applied on its cluster (nan unless all)
    converged: int
    tenants_ready_s: float  # first create -> every tenant's object shows its copy rolled out (nan unless all)
    tenants_ready: int
    rss_peak_mb: float
    cpu_s: float
    window_s: float
    rest_p50: float  # create -> on cluster, one workload at a time after convergence
    rest_p99: float
    rest_samples: int

    @property
    def p50_ratio(self) -> float:
        return self.p50 / self.floor_p50

    @property
    def p99_ratio(self) -> float:
        return self.p99 / self.floor_p99


def figures(options: Options, floor: Floor, result: Result) -> Figures:
    obs = result.observations
    n = len(obs.expected)
    latencies = [(obs.seen[k][0] - obs.created[k]) * 1000 for k in obs.expected if k in obs.seen and k in obs.created]
    status = [
        (obs.tenant_ready[k] - obs.copy_ready[k]) * 1000
        for k in obs.expected
        if k in obs.tenant_ready and k in obs.copy_ready
    ]

    def all_done(times: dict[WorkloadKey, float]) -> float:
        return max(times.values()) - result.first_create if times and len(times) == n else math.nan

    return Figures(
        workloads=n,
        workspaces=options.workspaces,
        clusters=options.clusters,
        floor_p50=floor.p50,
        floor_p99=floor.p99,
        p50=percentile(latencies, 50),
        p99=percentile(latencies, 99),
        copies_seen=len(latencies),
        status_p50=percentile(status, 50),
        status_p99=percentile(status, 99),
        status_samples=len(status),
        converged_s=all_done(obs.converged),
        converged=len(obs.converged),
        tenants_ready_s=all_done(obs.tenant_ready),
        tenants_ready=len(obs.tenant_ready),
        rss_peak_mb=result.rss_peak_mb,
        cpu_s=result.cpu_s,
        window_s=result.ended - result.first_create,
        rest_p50=percentile(result.rest_ms, 50) if result.rest_ms else math.nan,
        rest_p99=percentile(result.rest_ms, 99) if result.rest_ms else math.nan,
        rest_samples=len(result.rest_ms),
    )


# -- the report --------------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "[green]MET[/green]" if ok else "[red]NOT MET[/red]"


def report(options: Options, floor: Floor, result: Result) -> None:
    obs = result.observations
    n = len(obs.expected)
    headline = figures(options, floor, result)
    latencies = [(obs.seen[k][0] - obs.created[k]) * 1000 for k in obs.expected if k in obs.seen and k in obs.created]
    p50, p90, p99 = headline.p50, percentile(latencies, 90), headline.p99
    worst = max(latencies) if latencies else math.nan
    all_converged = len(obs.converged) == n
    converged_s = (max(obs.converged.values()) - result.first_create) if obs.converged else math.nan
    all_seen = len(obs.seen) == n

    table = Table(title=f"bench/sync.py: {n} Deployments, {options.workspaces} workspaces, {options.clusters} clusters")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("goal")
    table.add_column("", justify="center")
    table.add_row(
        "floor: kcp create p50 / p99",
        f"{percentile(floor.kcp_ms, 50):.1f} / {percentile(floor.kcp_ms, 99):.1f} ms",
        f"{len(floor.kcp_ms)} idle samples",
        "",
    )
    table.add_row(
        "floor: direct cluster create p50 / p99",
        f"{percentile(floor.cluster_ms, 50):.1f} / {percentile(floor.cluster_ms, 99):.1f} ms",
        f"{len(floor.cluster_ms)} idle samples",
        "",
    )
    table.add_row("floor p50 / p99 (sum)", f"{floor.p50:.1f} / {floor.p99:.1f} ms", "", "")
    table.add_row(
        "create -> on cluster p50 / p90", f"{p50:.0f} / {p90:.0f} ms", f"{len(latencies)}/{n} copies seen", ""
    )
    table.add_row("create -> on cluster p99 / max", f"{p99:.0f} / {worst:.0f} ms", "", "")
    to_binding = [(obs.bound[k] - obs.created[k]) * 1000 for k in obs.expected if k in obs.bound and k in obs.created]
    to_copy = [(obs.seen[k][0] - obs.bound[k]) * 1000 for k in obs.expected if k in obs.seen and k in obs.bound]
    table.add_row(
        "  of which create -> binding seen p50 / p99",
        f"{percentile(to_binding, 50):.0f} / {percentile(to_binding, 99):.0f} ms",
        "placement controller",
        "",
    )
    table.add_row(
        "  of which binding -> on cluster p50 / p99",
        f"{percentile(to_copy, 50):.0f} / {percentile(to_copy, 99):.0f} ms",
        "sync engine",
        "",
    )
    table.add_row(
        "p50 / floor p50",
        f"{p50 / floor.p50:.1f}x",
        f"<= {GOAL_P50_RATIO:g}x",
        verdict(p50 <= GOAL_P50_RATIO * floor.p50 and all_seen),
    )
    table.add_row(
        "p99 / floor p99",
        f"{p99 / floor.p99:.1f}x",
        f"<= {GOAL_P99_RATIO:g}x",
        verdict(p99 <= GOAL_P99_RATIO * floor.p99 and all_seen),
    )
    if result.rest_ms:
        rest_p50, rest_p99 = percentile(result.rest_ms, 50), percentile(result.rest_ms, 99)
        table.add_row(
            "at rest: create -> on cluster p50 / p99 (one at a time, after convergence)",
            f"{rest_p50:.1f} / {rest_p99:.1f} ms = {rest_p50 / floor.p50:.1f}x / {rest_p99 / floor.p99:.1f}x the floor",
            f"{len(result.rest_ms)} samples; <= {GOAL_P50_RATIO:g}x / {GOAL_P99_RATIO:g}x",
            verdict(rest_p50 <= GOAL_P50_RATIO * floor.p50 and rest_p99 <= GOAL_P99_RATIO * floor.p99),
        )
    table.add_row(
        "first create -> all Applied",
        f"{converged_s:.1f} s ({len(obs.converged)}/{n})",
        f"< {GOAL_CONVERGED_S:g} s, all",
        verdict(all_converged and converged_s < GOAL_CONVERGED_S),
    )
    table.add_row(
        "first create -> every tenant's object rolled out",
        f"{headline.tenants_ready_s:.1f} s ({headline.tenants_ready}/{n})",
        "its own status, brought back",
        "",
    )
    table.add_row(
        "status: copy rolled out -> tenant's object shows it p50 / p99",
        f"{headline.status_p50:.0f} / {headline.status_p99:.0f} ms",
        f"{headline.status_samples}/{n} pairs seen",
        "",
    )
    table.add_row(
        "creates sent in",
        f"{result.last_create - result.first_create:.1f} s",
        f"{options.create_concurrency} at a time",
        "",
    )
    table.add_row(
        "controller RSS before / peak (VmHWM)",
        f"{result.rss_before_mb:.0f} / {result.rss_peak_mb:.0f} MB",
        f"< {GOAL_RSS_MB:g} MB",
        verdict(result.rss_peak_mb < GOAL_RSS_MB),
    )
    table.add_row(
        "controller CPU in the window / since start",
        f"{result.cpu_s:.1f} / {result.cpu_total_s:.1f} s",
        f"window {headline.window_s:.1f} s",
        "",
    )
    cores = len(os.sched_getaffinity(0))
    spent = result.spent
    table.add_row(
        "CPU in the window: controller / kcp / clusters / machine busy",
        f"{spent.controller:.1f} / {spent.kcp:.1f} / "
        + " + ".join(f"{v:.1f}" for _, v in sorted(spent.clusters.items()))
        + f" / {spent.machine:.1f} s",
        f"of {cores * headline.window_s:.0f} core-seconds ({spent.machine / (cores * headline.window_s):.0%} busy)",
        "",
    )
    kcp_total = sum(result.kcp_requests.values())
    kcp_writes = sum(v for (verb, _, _), v in result.kcp_requests.items() if verb in MUTATING_VERBS)
    table.add_row(
        "requests to kcp (controller)",
        f"{kcp_total - result.bench_kcp_requests:.0f} ({kcp_writes - options.workloads:.0f} writes)",
        f"bench's own {result.bench_kcp_requests} subtracted",
        "",
    )
    for name, counts in result.cluster_requests.items():
        applies = sum(v for (verb, _, _), v in counts.items() if verb == "APPLY")
        namespaces = sum(v for (_, resource, _), v in counts.items() if resource == "namespaces")
        copies = sum(1 for _, cluster in obs.seen.values() if cluster == name)
        table.add_row(
            f"requests to {name}",
            f"{sum(counts.values()):.0f} all; {applies:.0f} APPLY; {namespaces:.0f} on namespaces",
            f"{copies} copies landed here",
            "",
        )
    console.print(table)

    # kcp's counter sees a request through the virtual workspace twice: at the virtual workspace (e.g. PATCH) and
    # as the request(s) it forwards (GET + PUT), plus a SubjectAccessReview; the split below shows which is which.
    top = Table(title="requests to kcp in the window, by verb and resource (bench's creates included)")
    for column in ("verb", "resource", "subresource", "requests"):
        top.add_column(column, justify="right" if column == "requests" else "left")
    for (verb, resource, subresource), value in result.kcp_requests.most_common(12):
        if value:
            top.add_row(verb, resource, subresource, f"{value:.0f}")
    console.print(top)

    before, after = result.controller_before, result.controller_after
    reconciles = delta(before, after, "tmc_reconcile_total", "controller")
    durations = delta(before, after, "tmc_reconcile_duration_seconds_sum", "controller")
    waits = delta(before, after, "tmc_workqueue_latency_seconds_sum", "controller")
    takes = delta(before, after, "tmc_workqueue_latency_seconds_count", "controller")
    work = Table(title="the controller in the window (its /metrics)")
    for column in ("controller", "reconciles", "mean reconcile", "mean queue wait"):
        work.add_column(column, justify="left" if column == "controller" else "right")
    for (name,), count in sorted(reconciles.items()):
        if count:
            took = takes.get((name,), 0.0)
            work.add_row(
                name,
                f"{count:.0f}",
                f"{durations.get((name,), 0.0) / count * 1000:.0f} ms",
                f"{waits.get((name,), 0.0) / took * 1000:.0f} ms" if took else "-",
            )
    console.print(work)
    writes = delta(before, after, "tmc_status_writes_total", "resource", "outcome")
    console.print(
        "status writes: "
        + ", ".join(f"{resource} {outcome} {v:.0f}" for (resource, outcome), v in sorted(writes.items()) if v)
    )

    if result.timed_out:
        missing_copies = n - len(obs.seen)
        missing_bindings = n - len(obs.converged)
        console.print(
            f"[red]timed out after {options.timeout:.0f}s:[/red] {missing_copies} copies never seen,"
            f" {missing_bindings} bindings never Applied (e.g. {sorted(obs.expected - set(obs.converged))[:3]}),"
            f" {n - len(obs.tenant_ready)} tenant objects never rolled out"
        )
    if obs.wrong_namespace:
        console.print(
            f"[red]{len(obs.wrong_namespace)} copies outside their mapped namespace[/red]: {obs.wrong_namespace[:3]}"
        )


def parse_args() -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--workloads", type=int, default=1000, help="Deployments created in all")
    parser.add_argument("--workspaces", type=int, default=20, help="tenant workspaces they are spread over")
    parser.add_argument("--clusters", type=int, default=3, help="live clusters registered in every workspace")
    parser.add_argument("--replicas", type=int, default=1, help="replicas of each Deployment")
    parser.add_argument(
        "--nodes",
        type=int,
        default=None,
        help=f"kwok nodes per cluster (default: enough for 1.5x its share at {PODS_PER_NODE} pods each)",
    )
    parser.add_argument("--create-concurrency", type=int, default=10, help="creates in flight at once")
    parser.add_argument("--floor-samples", type=int, default=100, help="idle creates measured for the floor, each")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds from the first create to give up")
    parser.add_argument("--keep", action="store_true", help="keep the servers' state directory")
    args = parser.parse_args()
    for flag in ("workloads", "workspaces", "clusters", "create_concurrency", "floor_samples"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag.replace('_', '-')} must be >= 1")
    if args.replicas < 0:
        parser.error("--replicas must be >= 0")
    return Options(
        workloads=args.workloads,
        workspaces=args.workspaces,
        clusters=args.clusters,
        replicas=args.replicas,
        nodes=args.nodes,
        create_concurrency=args.create_concurrency,
        floor_samples=args.floor_samples,
        timeout=args.timeout,
        keep=args.keep,
    )


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
