"""``tmc up`` / ``tmc down``: the embedded default, from nothing to a placed workload, in one command.

kcp + N live local physical clusters (by default three, in two regions, of different sizes), TMC installed in
``root:tmc``, one tenant workspace bound to it with every local cluster registered (kubeconfig Secret +
ClusterRegistration, labelled with its nodes' region), the TMC controllers running in this process, and the
example (``tmc.local.example``: the seed's Spread placement and a Deployment ``web``) applied; ``tmc up`` ends
by showing where ``web`` runs and how ready it is per cluster, and how to reach everything.

State lives in one directory (default ``~/.cache/tmc/embedded``):

- ``state.json``: the tenant, the clusters' shapes and every port, written once everything is set up;
- ``tmc-up.pid``: the running ``tmc up`` (``tmc down`` sends it SIGTERM; it stops the controllers, releasing
  their Lease, then every server); ``servers.json``: the servers' process ids, so ``tmc down`` also stops
  servers a killed ``tmc up`` left behind (only processes whose command line names this directory);
- ``kcp/`` (kcp's root directory: its etcd data, certificates, admin token) and ``clusters/<name>/`` (each
  cluster's etcd data, kubeconfig).

**Kept state resumes.** ``tmc down --keep`` (or Ctrl-C, which never deletes anything) leaves the directory;
the next ``tmc up`` restarts kcp on its own data with the same ports (kcp stores its URL in workspaces and
endpoint slices, and its embedded etcd its peer URL), and each cluster on its etcd data with the same ports.
A cluster's serving certificates and admin token are made anew at every start, so the kubeconfig Secrets are
updated (``tmc.install.register`` converges them) and the controllers reconnect with the new credentials;
the example's objects exist already and are left as the user changed them. ``tmc up --fresh`` (or a state
directory without ``state.json``, e.g. from a start that failed) starts from nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import select
import shutil
import signal
import socket
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console

from tmc.api import CLUSTER_REGISTRATION, WORKLOAD_PLACEMENT
from tmc.cli import tables
from tmc.controllers.run import ControllerOptions, run_controllers
from tmc.controllers.workloadplacement.bindings import BINDINGS
from tmc.errors import ConfigError, ConflictError
from tmc.install.bind import bind
from tmc.install.install import install
from tmc.install.register import ClusterSpec, register_cluster
from tmc.kcp.paths import LogicalClusterPath
from tmc.kcp.resources import DEPLOYMENTS, resource_of
from tmc.kcp.rest import JSON, KubeClient
from tmc.kcp.watching import wait_for_object
from tmc.kcp.workspaces import ensure_workspace
from tmc.local import example
from tmc.local.binaries import ensure_binaries
from tmc.local.environment import LocalEnvironment
from tmc.local.nodes import REGION_LABEL, NodeSpec
from tmc.local.physical_cluster import PhysicalCluster
from tmc.runtime import install_signal_handlers

LOCAL_CLUSTER_CIDRS = ("127.0.0.0/8", "::1/128")
STATE_FILE = "state.json"
PID_FILE = "tmc-up.pid"
SERVERS_FILE = "servers.json"
STATE_VERSION = 1
REGISTRATIONS = resource_of(CLUSTER_REGISTRATION)
PLACEMENTS = resource_of(WORKLOAD_PLACEMENT)
# A Deployment on kwok nodes rolls out in seconds; on a loaded 2-core machine allow much more before saying so.
ROLLOUT_TIMEOUT = 180.0
T = TypeVar("T")


# -- state ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClusterState:
    port: int
    etcd_port: int
    etcd_peer_port: int
    nodes: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SavedState:
    tenant: str
    health_port: int
    replicas: int
    kcp: dict[str, int]
    clusters: dict[str, ClusterState]

    def node_specs(self) -> dict[str, NodeSpec]:
        return {name: NodeSpec(**cluster.nodes) for name, cluster in self.clusters.items()}

    def ports(self) -> list[tuple[str, int]]:
        found = [(f"kcp {what}", port) for what, port in self.kcp.items()]
        for name, cluster in self.clusters.items():
            found += [(f"{name} {what}", getattr(cluster, what)) for what in ("port", "etcd_port", "etcd_peer_port")]
        return found


def load_state(state_dir: Path) -> SavedState | None:
    """The kept state, or None when there is none usable (then ``tmc up`` starts from nothing)."""
    try:
        raw = json.loads((state_dir / STATE_FILE).read_text())
        if raw.get("version") != STATE_VERSION:
            return None
        return SavedState(
            tenant=str(raw["tenant"]),
            health_port=int(raw["health_port"]),
            replicas=int(raw["replicas"]),
            kcp={k: int(v) for k, v in raw["kcp"].items()},
            clusters={name: ClusterState(**c) for name, c in raw["clusters"].items()},
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _state_of(environment: LocalEnvironment, tenant: str, health_port: int, replicas: int) -> SavedState:
    kcp = environment.kcp
    return SavedState(
        tenant=tenant,
        health_port=health_port,
        replicas=replicas,
        kcp={"port": kcp.port, "etcd_client_port": kcp.etcd_client_port, "etcd_peer_port": kcp.etcd_peer_port},
        clusters={
            name: ClusterState(cluster.port, cluster.etcd_port, cluster.etcd_peer_port, _nodes_state(cluster.nodes))
            for name, cluster in environment.clusters.items()
        },
    )


def _nodes_state(nodes: NodeSpec) -> dict[str, Any]:
    return {
        "count": nodes.count,
        "cpu": nodes.cpu,
        "memory": nodes.memory,
        "pods": nodes.pods,
        "labels": dict(nodes.labels),
    }


def _save_state(state_dir: Path, state: SavedState) -> None:
    body = {"version": STATE_VERSION, **asdict(state)}
    _write_private(state_dir / STATE_FILE, json.dumps(body, indent=2) + "\n")


def _write_private(path: Path, text: str) -> None:
    path.touch(mode=0o600)
    path.write_text(text)


def _apply_ports(environment: LocalEnvironment, state: SavedState) -> None:
    environment.kcp.port = state.kcp["port"]
    environment.kcp.etcd_client_port = state.kcp["etcd_client_port"]
    environment.kcp.etcd_peer_port = state.kcp["etcd_peer_port"]
    for name, cluster in environment.clusters.items():
        saved = state.clusters[name]
        cluster.port, cluster.etcd_port, cluster.etcd_peer_port = saved.port, saved.etcd_port, saved.etcd_peer_port


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the servers bind (Go sets SO_REUSEADDR): connections of a just stopped server in TIME_WAIT do not
        # make its port busy, so `tmc down --keep` then `tmc up` resumes at once.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


# -- processes --------------------------------------------------------------------------------------------


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def running_up(state_dir: Path) -> int | None:
    """The pid of the ``tmc up`` that owns ``state_dir``, if it still runs (a stale pid file is ignored)."""
    try:
        pid = int((state_dir / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if "up" in _cmdline(pid) else None


def _wait_exit(pid: int, timeout: float) -> bool:
    """Wait for a process (not necessarily our child) to exit, by its pidfd: no polling. True if it did."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        ready, _, _ = select.select([fd], [], [], timeout)
        return bool(ready)
    finally:
        os.close(fd)


def _stop_process(pid: int, timeout: float, *, group: bool) -> bool:
    """SIGTERM, then SIGKILL after ``timeout``; ``group``: the whole process group (a server and its children)."""
    kill = os.killpg if group else os.kill
    try:
        kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    if not _wait_exit(pid, timeout):
        with contextlib.suppress(ProcessLookupError):
            kill(pid, signal.SIGKILL)
        _wait_exit(pid, 10)
    return True


def stop_embedded(state_dir: Path, *, keep: bool, timeout: float = 90.0) -> list[str]:
    """``tmc down``: stop the running ``tmc up`` and any server it left, then remove the state unless ``keep``."""
    done: list[str] = []
    pid = running_up(state_dir)
    if pid is not None:
        started = time.monotonic()
        _stop_process(pid, timeout, group=False)
        done.append(f"stopped tmc up (pid {pid}) in {time.monotonic() - started:.1f}s")
    try:
        servers = json.loads((state_dir / SERVERS_FILE).read_text()).get("pids", [])
    except (OSError, ValueError, AttributeError):
        servers = []
    marker = str(state_dir.resolve())
    for server in servers:
        argv = _cmdline(int(server))
        if argv and any(marker in part for part in argv) and _stop_process(int(server), 15, group=True):
            done.append(f"stopped leftover server {Path(argv[0]).name} (pid {server})")
    (state_dir / PID_FILE).unlink(missing_ok=True)
    if not state_dir.exists():
        done.append(f"no state in {state_dir}")
    elif keep:
        done.append(f"kept {state_dir}: `tmc up` resumes it")
    else:
        shutil.rmtree(state_dir)
        done.append(f"removed {state_dir}")
    return done


# -- tmc up ---------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def step(console: Console, text: str) -> Iterator[Callable[[str], None]]:
    """A slow step: a spinner on a terminal (the callback adds detail), then one ``✓ text (time)`` line."""
    started = time.monotonic()
    if console.is_terminal:
        with console.status(text) as status:
            yield lambda detail: status.update(f"{text} {detail}")
    else:
        console.print(f"  {text} ...", markup=False)
        yield lambda detail: None
    console.print(f"[green]✓[/green] {text} ({time.monotonic() - started:.1f}s)")


async def run_embedded(
    state_dir: Path,
    clusters: Mapping[str, NodeSpec] | None,
    tenant: str,
    console: Console,
    *,
    health_port: int = 8080,
    replicas: int = 6,
    fresh: bool = False,
    out: Console | None = None,
) -> None:
    """Until SIGTERM/SIGINT. ``clusters`` None: the defaults (or, resuming, the kept ones)."""
    out = out or console
    tenant_path = LogicalClusterPath.parse(tenant)
    running = running_up(state_dir)
    if running is not None:
        raise ConfigError(f"tmc up already runs (pid {running}) on {state_dir}; `tmc down` stops it")
    saved = None if fresh else load_state(state_dir)
    if saved is not None:
        if clusters is not None and dict(clusters) != saved.node_specs():
            raise ConfigError(f"{state_dir} was made with other --cluster options; `tmc down` first to change them")
        if saved.tenant != tenant:
            raise ConfigError(f"{state_dir} holds tenant {saved.tenant}; `tmc down` first to use {tenant}")
        busy = [f"{port} ({what})" for what, port in saved.ports() if _port_in_use(port)]
        if busy:
            raise ConfigError(f"cannot resume {state_dir}: port {', '.join(busy)} in use; free it, or `tmc up --fresh`")
        clusters, health_port, replicas = saved.node_specs(), saved.health_port, saved.replicas
        console.print(f"Resuming the kept state in {state_dir}", markup=False)
    elif state_dir.exists():
        shutil.rmtree(state_dir)
    if clusters is None:
        from tmc.local.environment import DEFAULT_CLUSTERS

        clusters = dict(DEFAULT_CLUSTERS)
    state_dir.mkdir(parents=True, exist_ok=True)
    pid_file = state_dir / PID_FILE
    pid_file.write_text(f"{os.getpid()}\n")
    stop = asyncio.Event()
    remove_handlers = install_signal_handlers(stop)
    try:
        environment = LocalEnvironment(state_dir, clusters)
        if saved is not None:
            _apply_ports(environment, saved)
        up = _Up(environment, state_dir, tenant_path, console, out, health_port, replicas, stop)
        await up.run()
    finally:
        remove_handlers()
        pid_file.unlink(missing_ok=True)


class _Up:
    def __init__(
        self,
        environment: LocalEnvironment,
        state_dir: Path,
        tenant: LogicalClusterPath,
        console: Console,
        out: Console,
        health_port: int,
        replicas: int,
        stop: asyncio.Event,
    ) -> None:
        self.environment = environment
        self.state_dir = state_dir
        self.tenant = tenant
        self.console = console
        self.out = out
        self.health_port = health_port
        self.replicas = replicas
        self.stop = stop

    async def until_stopped(self, awaitable: Awaitable[T]) -> T:
        """``awaitable``'s result, or CancelledError-free abort (``_Stopped``) once SIGTERM/SIGINT arrives."""
        task = asyncio.ensure_future(awaitable)
        stopper = asyncio.ensure_future(self.stop.wait())
        try:
            await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            raise _Stopped
        return task.result()

    async def run(self) -> None:
        try:
            await self._run()
        except _Stopped:
            pass
        finally:
            with step(self.console, "Stopping the servers"), contextlib.suppress(Exception):
                await self.environment.stop()

    async def _run(self) -> None:
        with step(self.console, "Server binaries (the first run builds them from Go modules: up to an hour)"):
            await self.until_stopped(asyncio.to_thread(ensure_binaries))
        await self.until_stopped(self._start_servers())
        access = self.environment.kcp.access
        async with KubeClient(access) as client:
            await self.until_stopped(self._install(client))
            _save_state(self.state_dir, _state_of(self.environment, str(self.tenant), self.health_port, self.replicas))
            # The local clusters listen on loopback, which tenant clusters may not use by default.
            options = ControllerOptions(health_port=self.health_port, allowed_cluster_cidrs=LOCAL_CLUSTER_CIDRS)
            controllers = asyncio.create_task(run_controllers(access, options, self.stop))
            try:
                with contextlib.suppress(_Stopped):
                    await self.until_stopped(self._until_failed(controllers, self._example(client)))
                if not self.stop.is_set():
                    self._print_access()
                await controllers  # returns once SIGTERM/SIGINT set ``stop``: the Lease is released, workers done
            finally:
                if not controllers.done():  # the example failed: stop the controllers before the servers
                    self.stop.set()
                    with contextlib.suppress(Exception):
                        await controllers

    async def _until_failed(self, controllers: asyncio.Task[None], work: Awaitable[T]) -> T:
        """``work``'s result; if the controllers end first (they failed, or were stopped), their error/_Stopped."""
        task = asyncio.ensure_future(work)
        try:
            await asyncio.wait({task, controllers}, return_when=asyncio.FIRST_COMPLETED)
            if task.done():
                return task.result()
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        controllers.result()  # raises the controllers' error
        raise _Stopped

    async def _start_servers(self) -> None:
        names = ["kcp", *self.environment.clusters]
        ready: list[str] = []
        with step(self.console, f"Starting kcp and {len(self.environment.clusters)} live clusters") as detail:

            async def start(name: str, starting: Awaitable[None]) -> None:
                await starting
                ready.append(name)
                detail(f"(ready: {', '.join(ready)}; waiting for {', '.join(n for n in names if n not in ready)})")

            try:
                await asyncio.gather(
                    start("kcp", self.environment.kcp.start()),
                    *(start(name, c.start()) for name, c in self.environment.clusters.items()),
                )
            finally:
                self._record_servers()

    def _record_servers(self) -> None:
        pids = [p.pid for p in (self.environment.kcp.process,) if p is not None and p.running and p.pid]
        for cluster in self.environment.clusters.values():
            pids.extend(cluster.pids())
        _write_private(self.state_dir / SERVERS_FILE, json.dumps({"pids": pids}) + "\n")

    async def _install(self, client: KubeClient) -> None:
        with step(self.console, "Installing TMC into root:tmc"):
            await install(client)
        with step(self.console, f"Creating tenant workspace {self.tenant} and binding it to TMC"):
            await ensure_workspace(client, self.tenant)
            await bind(client, self.tenant)
        with step(self.console, f"Registering {', '.join(self.environment.clusters)} in {self.tenant}"):
            for name, cluster in self.environment.clusters.items():
                await register(client, self.tenant, name, cluster)
        self._write_tenant_kubeconfig()

    async def _example(self, client: KubeClient) -> None:
        try:
            with step(self.console, "Controllers started; waiting for the clusters to become Ready"):
                for name in self.environment.clusters:
                    await wait_for_object(client, REGISTRATIONS, name, _ready, cluster=self.tenant, timeout=120)
        except TimeoutError as exc:
            self.console.print(f"[yellow]warning:[/yellow] {exc}; see `tmc get clusters -o yaml`")
            return
        with step(
            self.console,
            f"Applying the example: WorkloadPlacement {example.PLACEMENT_NAME} (the seed's Spread over region"
            f" us-west) and Deployment {example.APP} ({self.replicas} replicas)",
        ):
            for resource, body in (
                (PLACEMENTS, example.example_placement()),
                (DEPLOYMENTS, example.example_deployment(self.replicas)),
            ):
                with contextlib.suppress(ConflictError):  # kept state: it is there, maybe changed by the user
                    await client.create(resource, body, cluster=self.tenant, namespace=example.NAMESPACE)
        try:
            until = functools.partial(
                wait_for_object, client, cluster=self.tenant, namespace=example.NAMESPACE, timeout=ROLLOUT_TIMEOUT
            )
            with step(self.console, f"Waiting for {example.APP} to roll out on its clusters"):
                binding = await until(BINDINGS, example.BINDING_NAME, example.rolled_out)
                deployment = await until(DEPLOYMENTS, example.APP, example.reports_rolled_out)
        except TimeoutError:
            self.console.print(
                f"[yellow]{example.APP} has not rolled out within {ROLLOUT_TIMEOUT:.0f}s;[/yellow] see"
                f" `tmc get workloads` and `tmc explain {example.PLACEMENT_NAME}`"
            )
            return
        self._print_workload(binding, deployment)

    def _print_workload(self, binding: JSON, deployment: JSON) -> None:
        ready, wanted = tables.ready_summary(binding)
        where = ", ".join(f"{row[0]} {row[2]}" for row in tables.copy_rows(binding) if row[4] != "(removing)")
        status = deployment.get("status") or {}
        self.out.print()
        self.out.print(
            f"[bold]Deployment {example.NAMESPACE}/{example.APP}[/bold] in {self.tenant} runs on"
            f" {where}: {ready}/{wanted} ready (the tenant's own object says"
            f" readyReplicas {status.get('readyReplicas', 0)} of {deployment['spec'].get('replicas')})."
        )
        self.out.print(tables.workloads_table([binding]))

    def _write_tenant_kubeconfig(self) -> None:
        kcp = self.environment.kcp
        access = kcp.access.with_server(kcp.url + self.tenant.url_prefix)
        _write_private(self.tenant_kubeconfig, access.to_kubeconfig_yaml(self.tenant.base_name))

    @property
    def tenant_kubeconfig(self) -> Path:
        return self.state_dir / "tenant.kubeconfig"

    def _print_access(self) -> None:
        kcp = self.environment.kcp
        lines = [
            ("kcp (root)", f"kubectl --kubeconfig {kcp.admin_kubeconfig_path} get workspaces"),
            (
                f"tenant {self.tenant}",
                f"kubectl --kubeconfig {self.tenant_kubeconfig} get deployments,workloadplacements,workloadbindings",
            ),
            *(
                (f"cluster {name}", f"kubectl --kubeconfig {cluster.kubeconfig_path} get deployments -A")
                for name, cluster in self.environment.clusters.items()
            ),
            (
                "TMC's view",
                f"export KUBECONFIG={self.tenant_kubeconfig}; tmc get clusters|placements|workloads;"
                f" tmc explain {example.PLACEMENT_NAME}; tmc status",
            ),
            ("metrics", f"curl http://127.0.0.1:{self.health_port}/metrics"),
        ]
        self.out.print()
        table = tables.new_table("", "")
        table.show_header = False
        for what, command in lines:
            table.add_row(what, command)
        self.out.print(table)
        self.out.print(
            "TMC's controllers run in this process. Ctrl-C or `tmc down` stops everything"
            " (`tmc down` also removes the state; `tmc down --keep` keeps it and `tmc up` resumes it)."
        )


class _Stopped(Exception):
    """SIGTERM/SIGINT arrived while a step was running."""


def _ready(obj: JSON) -> bool:
    return tables.condition_text(obj, "Ready") == "True"


async def register(
    client: KubeClient, tenant: LogicalClusterPath, name: str, cluster: PhysicalCluster, region: str | None = None
) -> None:
    """The kubeconfig Secret and the ClusterRegistration, labelled ``region`` (default: the nodes' region);
    updated when they exist (a restarted local cluster has new credentials)."""
    region = region or cluster.nodes.labels.get(REGION_LABEL, "local")
    spec = ClusterSpec(
        name=name,
        kubeconfig=cluster.access.to_kubeconfig_yaml(name),
        location=name,
        labels={"region": region},
        capabilities=("compute", "storage"),
    )
    await register_cluster(client, tenant, spec)
