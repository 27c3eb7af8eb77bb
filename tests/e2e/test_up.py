"""``tmc up`` as a user runs it: the installed console script in the background, driven by the CLI as processes.

One ``tmc up`` per module (kcp + 3 live clusters take tens of seconds to start), in its own HOME, so its state
directory is the documented ``~/.cache/tmc/embedded`` without touching the user's (the server binaries still
come from the real cache, ``TMC_BIN_DIR``). Ready is what ``tmc up`` itself says last on stdout, no sleep.

- the CLI (``get clusters | placements | workloads``, ``-o json|yaml``, ``--watch``, ``explain``,
  ``register``, ``status``, and ``kubectl tmc``) prints what kcp and the physical clusters hold, read here
  with the project's own client;
- every shell command of README.md and docs/*.md runs against it (``tests.docs_commands`` is the convention);
- ``tmc down --keep`` then ``tmc up`` resumes the kept state; ``tmc down`` leaves no process of it and no
  port it listened on, and removes the state.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import re
import shutil
import signal
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tests.docs_commands import REPO, check, runnable, script
from tmc.api import CLUSTER_REGISTRATION, WORKLOAD_PLACEMENT
from tmc.cli import tables
from tmc.controllers.run import LEASE_NAME, LEASE_NAMESPACE
from tmc.controllers.sync.naming import MANAGED_LABEL, ORIGIN_NAME
from tmc.controllers.workloadplacement.bindings import BINDINGS
from tmc.errors import NotFoundError
from tmc.install.desired import TMC_WORKSPACE
from tmc.kcp.kubeconfig import load_kubeconfig
from tmc.kcp.paths import LogicalClusterPath, base_url
from tmc.kcp.resources import DEPLOYMENTS, LEASES, SECRETS, resource_of
from tmc.kcp.rest import JSON, KubeClient
from tmc.kcp.watching import wait_for_object
from tmc.local import example
from tmc.local.environment import DEFAULT_CLUSTERS
from tmc.local.ports import free_port

pytestmark = pytest.mark.e2e

VENV_BIN = Path(sys.executable).parent
TENANT = LogicalClusterPath.parse("root:acme")
REGISTRATIONS = resource_of(CLUSTER_REGISTRATION)
PLACEMENTS = resource_of(WORKLOAD_PLACEMENT)
READY_LINE = "TMC's controllers run in this process."
# A warm start is well under a minute here; a loaded CI machine gets room, a build of the servers does not.
UP_TIMEOUT = 420.0
COMMAND_TIMEOUT = 120.0
SLACK = 30.0


# -- tmc up as a process ------------------------------------------------------------------------------------


@dataclass
class Up:
    """One running ``tmc up``: its process, what it printed, and what it runs (for the checks after down)."""

    env: dict[str, str]
    state_dir: Path
    health_port: int
    process: asyncio.subprocess.Process
    stderr_path: Path
    stdout: list[str] = field(default_factory=list)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    drained: asyncio.Task[None] | None = None
    seconds_to_ready: float = 0.0

    @property
    def text(self) -> str:
        return "\n".join(self.stdout)

    def diagnosis(self) -> str:
        stderr = self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""
        return f"--- tmc up stdout ---\n{self.text}\n--- tmc up stderr (last 60 lines) ---\n" + "\n".join(
            stderr.splitlines()[-60:]
        )


def up_environment(home: Path) -> dict[str, str]:
    """A user's environment with HOME elsewhere: the embedded default's state there, binaries and Go caches not."""
    real_home = Path.home()
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG" and not k.startswith("PYTEST")}
    env["HOME"] = str(home)
    env["TMC_STATE_DIR"] = str(home / ".cache" / "tmc" / "embedded")
    env.setdefault("TMC_BIN_DIR", str(real_home / ".cache" / "tmc" / "bin"))
    env.setdefault("TMC_BUILD_DIR", str(real_home / ".cache" / "tmc" / "build"))
    env.setdefault("GOPATH", str(real_home / "go"))
    env.setdefault("GOCACHE", str(real_home / ".cache" / "go-build"))
    # The docs must say how to reach `tmc` themselves: the venv is not on this PATH.
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if Path(p) != VENV_BIN)
    return env


async def start_up(env: dict[str, str], health_port: int, log_dir: Path) -> Up:
    """``tmc up`` in the background until it prints its last line (or fails: then the test fails with its output)."""
    stderr_path = log_dir / f"tmc-up-{time.monotonic_ns()}.stderr"
    started = time.monotonic()
    with stderr_path.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            str(VENV_BIN / "tmc"),
            "up",
            "--health-port",
            str(health_port),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,  # a file: tmc up's progress and the controllers' logs never fill a pipe
            env=env,
            cwd=REPO,
        )
    up = Up(env, Path(env["TMC_STATE_DIR"]), health_port, process, stderr_path)

    async def drain() -> None:
        assert process.stdout is not None
        async for raw in process.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            up.stdout.append(line)
            if line.startswith(READY_LINE):
                up.ready.set()

    up.drained = asyncio.create_task(drain())
    exited = asyncio.create_task(process.wait())
    ready = asyncio.create_task(up.ready.wait())
    done, _ = await asyncio.wait({exited, ready}, timeout=UP_TIMEOUT, return_when=asyncio.FIRST_COMPLETED)
    ready.cancel()
    if ready not in done:
        exited.cancel()
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 120)
        how = f"exited with code {process.returncode}" if exited in done else f"not ready in {UP_TIMEOUT:.0f}s"
        pytest.fail(f"tmc up {how}\n{up.diagnosis()}")
    exited.cancel()
    up.seconds_to_ready = time.monotonic() - started
    return up


async def cli(
    up: Up, *args: str, plugin: bool = False, extra_env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    """``tmc ARGS`` (or ``kubectl tmc ARGS``) as a process in tmc up's environment; (exit code, stdout, stderr)."""
    env = {**up.env, **(extra_env or {})}
    if plugin:
        env["PATH"] = f"{VENV_BIN}{os.pathsep}{env['PATH']}"  # where the package installed kubectl-tmc
        argv = ["kubectl", "tmc", *args]
    else:
        argv = [str(VENV_BIN / "tmc"), *args]
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=REPO,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), COMMAND_TIMEOUT)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


async def tmc_ok(up: Up, *args: str, plugin: bool = False) -> str:
    code, out, err = await cli(up, *args, plugin=plugin)
    assert code == 0, f"{'kubectl tmc' if plugin else 'tmc'} {' '.join(args)}: exit {code}\n{out}{err}"
    return out


# -- what runs: processes and listening ports, from /proc ------------------------------------------------------


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rpartition(")")[2].split()[1])


def process_tree(root: int) -> dict[int, str]:
    """``root`` and every descendant: pid -> command line."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (parent := parent_of(int(entry.name))) is not None:
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = {}, [root]
    while todo:
        pid = todo.pop()
        if line := cmdline(pid):
            found[pid] = line
        todo.extend(children.get(pid, []))
    return found


def listening_ports() -> dict[int, int]:
    """Every listening TCP socket of this network namespace: inode -> port."""
    ports: dict[int, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for row in Path(table).read_text().splitlines()[1:]:
                fields = row.split()
                if fields[3] == "0A":  # TCP_LISTEN
                    ports[int(fields[9])] = int(fields[1].rpartition(":")[2], 16)
    return ports


def _sockets(pid: int) -> Iterator[int]:
    """The socket inodes a process holds open."""
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    yield int(target[8:-1])


def ports_of(pids: list[int]) -> set[int]:
    listening = listening_ports()
    return {listening[inode] for pid in pids for inode in _sockets(pid) if inode in listening}


def still_listening(ports: set[int], processes: dict[int, str], state_dir: Path) -> list[str]:
    """Which of ``ports`` something of the stopped ``tmc up`` (``processes``, or a process naming its state
    directory) still listens on. A port another program took since is not a leftover (they were free ports,
    anyone may get them next); a listener whose owner cannot be found counts as one."""
    listening = {inode: port for inode, port in listening_ports().items() if port in ports}
    if not listening:
        return []
    owners: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            owners.update({inode: int(entry.name) for inode in _sockets(int(entry.name)) if inode in listening})
    left = []
    for inode, port in listening.items():
        owner = owners.get(inode)
        if owner is None or processes.get(owner) == cmdline(owner) or str(state_dir) in cmdline(owner):
            left.append(f"port {port}: {f'pid {owner} {cmdline(owner)}' if owner else 'owner not found'}")
    return left


def still_running(processes: dict[int, str], state_dir: Path) -> list[str]:
    """Processes of a stopped ``tmc up`` that are still there (same pid and command line), or any process naming
    its state directory."""
    left = [f"{pid}: {line}" for pid, line in processes.items() if cmdline(pid) == line]
    marker = str(state_dir)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) not in processes and marker in cmdline(int(entry.name)):
            left.append(f"{entry.name}: {cmdline(int(entry.name))}")
    return left


# -- reading the servers with the project's client ----------------------------------------------------------


def kcp_client(state_dir: Path) -> KubeClient:
    access = load_kubeconfig(state_dir / "kcp" / "tmc-admin.kubeconfig")
    return KubeClient(access.with_server(base_url(access.server)))


def cluster_client(state_dir: Path, name: str) -> KubeClient:
    return KubeClient(load_kubeconfig(state_dir / "clusters" / name / "kubeconfig"))


def rows(table: str) -> list[list[str]]:
    """A kubectl-shaped table's rows (header dropped), split on runs of two or more spaces."""
    return [re.split(r"\s{2,}", line.strip()) for line in table.splitlines()[1:] if line.strip()]


def explain_rows(text: str) -> list[list[str]]:
    """``tmc explain``'s boxed table: the cells of each body row."""
    body = [line for line in text.splitlines() if line.startswith("│")]
    return [[cell.strip() for cell in line.strip("│").split("│")] for line in body]


# -- the fixture: one tmc up per module --------------------------------------------------------------------


@dataclass
class Embedded:
    up: Up
    log_dir: Path
    timings: dict[str, float] = field(default_factory=dict)


@pytest.fixture(scope="module")
async def embedded(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Embedded]:
    home = tmp_path_factory.mktemp("home")
    env = up_environment(home)
    log_dir = tmp_path_factory.mktemp("tmc-up-logs")
    up = await start_up(env, free_port(), log_dir)
    running = Embedded(up, log_dir, {"tmc up (fresh state, binaries cached)": up.seconds_to_ready})
    yield running
    for what, seconds in running.timings.items():
        print(f"\n{what}: {seconds:.1f}s", end="")
    # Whatever a test left running (a failed test may leave tmc up up): `tmc down`, as a user would.
    if running.up.process.returncode is None:
        await down(running.up, keep=False)


async def down(up: Up, *, keep: bool) -> list[str]:
    """``tmc down [--keep]``; returns its lines once tmc up has exited (its exit code checked)."""
    code, out, err = await cli(up, "down", *(["--keep"] if keep else []))
    assert code == 0, out + err
    await asyncio.wait_for(up.process.wait(), 30)
    assert up.drained is not None
    await asyncio.wait_for(up.drained, 10)
    assert up.process.returncode == 0, f"tmc up exited with {up.process.returncode}\n{up.diagnosis()}"
    return out.splitlines()


# -- the CLI against the servers' state ---------------------------------------------------------------------


async def test_up_ends_by_showing_where_the_example_runs(embedded: Embedded) -> None:
    up = embedded.up
    async with kcp_client(up.state_dir) as kcp:
        binding = await kcp.get(BINDINGS, example.BINDING_NAME, cluster=TENANT, namespace=example.NAMESPACE)
        deployment = await kcp.get(DEPLOYMENTS, example.APP, cluster=TENANT, namespace=example.NAMESPACE)
    assert example.rolled_out(binding), binding.get("status")
    chosen = {c["name"]: c["replicas"] for c in binding["spec"]["clusters"]}
    assert set(chosen) == {"us-west-1", "us-west-2"}  # Spread over region us-west: not eu-central-1
    assert sum(chosen.values()) == deployment["spec"]["replicas"] == 6
    copies = {c["name"]: c for c in binding["status"]["clusters"]}
    where = ", ".join(f"{name} {copies[name]['readyReplicas']}/{replicas}" for name, replicas in chosen.items())
    assert (
        f"Deployment default/web in root:acme runs on {where}: 6/6 ready (the tenant's own object says"
        f" readyReplicas {deployment['status']['readyReplicas']} of 6)." in up.text
    ), up.text
    assert deployment["status"]["readyReplicas"] == 6
    # How to reach everything: kcp, the tenant and each cluster, with kubeconfigs that exist.
    for kubeconfig in ("kcp/tmc-admin.kubeconfig", "tenant.kubeconfig", *(f"clusters/{n}/kubeconfig" for n in chosen)):
        assert f"--kubeconfig {up.state_dir / kubeconfig}" in up.text
        assert (up.state_dir / kubeconfig).exists()
    assert f"curl http://127.0.0.1:{up.health_port}/metrics" in up.text


async def test_get_clusters_shows_the_registrations_in_both_forms(embedded: Embedded) -> None:
    up = embedded.up
    async with kcp_client(up.state_dir) as kcp:
        registrations = (await kcp.list(REGISTRATIONS, cluster=TENANT))["items"]
    assert {r["metadata"]["name"] for r in registrations} == set(DEFAULT_CLUSTERS)
    expected = [
        [
            r["metadata"]["name"],
            tables.condition_text(r, "Ready"),
            r["spec"]["location"],
            tables.labels_text(r["metadata"]["labels"]),
            tables.capabilities_text(r),
            r["status"]["allocatable"]["cpu"],
            r["status"]["allocatable"]["memory"],
            str(r["status"]["nodeCount"]),
            r["status"]["kubernetesVersion"],
        ]
        for r in sorted(registrations, key=lambda r: r["metadata"]["name"])
    ]
    table = await tmc_ok(up, "get", "clusters")
    assert table.splitlines()[0].split() == [
        "NAME",
        "READY",
        "LOCATION",
        "LABELS",
        "CAPABILITIES",
        "CPU",
        "MEMORY",
        "NODES",
        "VERSION",
    ]
    assert rows(table) == expected
    # The nodes tmc up asked for, counted by the clusters: us-west-2 has 4 nodes of 8 CPU.
    by_name = {row[0]: row for row in rows(table)}
    assert by_name["us-west-2"][1] == "True"
    assert by_name["us-west-2"][7] == "4"
    assert by_name["us-west-2"][5] == "32"
    # kubectl runs the plugin kubectl-tmc: the same table.
    assert await tmc_ok(up, "get", "clusters", plugin=True) == table
    listed = json.loads(await tmc_ok(up, "get", "clusters", "-o", "json"))
    assert {i["metadata"]["uid"] for i in listed["items"]} == {r["metadata"]["uid"] for r in registrations}


async def test_get_placements_and_explain_show_the_decision(embedded: Embedded) -> None:
    up = embedded.up
    async with kcp_client(up.state_dir) as kcp:
        placement = await kcp.get(PLACEMENTS, example.PLACEMENT_NAME, cluster=TENANT, namespace=example.NAMESPACE)
        binding = await kcp.get(BINDINGS, example.BINDING_NAME, cluster=TENANT, namespace=example.NAMESPACE)
    status = placement["status"]
    assert rows(await tmc_ok(up, "get", "placements")) == [
        [
            example.PLACEMENT_NAME,
            "Spread",
            f"{status['scheduledWorkloads']}/{status['workloads']}",
            status["selectedClusters"],
            "True",
        ]
    ]
    assert status["scheduledWorkloads"] == status["workloads"] == 1
    assert sorted(status["selectedClusters"].split(",")) == ["us-west-1", "us-west-2"]
    as_yaml = yaml.safe_load(await tmc_ok(up, "get", "placements", "-o", "yaml", plugin=True))
    [item] = as_yaml["items"]
    assert item["metadata"]["uid"] == placement["metadata"]["uid"]
    assert item["spec"] == placement["spec"]

    # explain: the same decision, cluster by cluster, with the reason eu-central-1 is out.
    chosen = {c["name"]: c["replicas"] for c in binding["spec"]["clusters"]}
    verdicts = {row[1]: row for row in explain_rows(await tmc_ok(up, "explain", example.PLACEMENT_NAME))}
    assert set(verdicts) == set(DEFAULT_CLUSTERS)
    for name, replicas in chosen.items():
        assert verdicts[name][0] == example.APP
        assert verdicts[name][2:5] == ["yes", "yes", str(replicas)], verdicts[name]
    assert verdicts["eu-central-1"][2:4] == ["no", ""]
    assert "region" in verdicts["eu-central-1"][6], verdicts["eu-central-1"]


async def test_get_workloads_shows_the_copies_the_clusters_run(embedded: Embedded) -> None:
    up = embedded.up
    async with kcp_client(up.state_dir) as kcp:
        binding = await kcp.get(BINDINGS, example.BINDING_NAME, cluster=TENANT, namespace=example.NAMESPACE)
    copies = {c["name"]: c for c in binding["status"]["clusters"]}
    chosen = {c["name"]: c["replicas"] for c in binding["spec"]["clusters"]}
    # What each physical cluster really runs: the copy of web in TMC's namespace there.
    running: dict[str, JSON] = {}
    for name in DEFAULT_CLUSTERS:
        async with cluster_client(up.state_dir, name) as cluster:
            found = (await cluster.list(DEPLOYMENTS, label_selector=f"{MANAGED_LABEL}=true"))["items"]
        found = [d for d in found if d["metadata"]["annotations"].get(ORIGIN_NAME) == example.APP]
        if name in chosen:
            [running[name]] = found
        else:
            assert found == [], f"{name} is not chosen but runs {found}"
    for name, replicas in chosen.items():
        assert running[name]["spec"]["replicas"] == replicas
        assert running[name]["status"]["readyReplicas"] == copies[name]["readyReplicas"] == replicas

    table = await tmc_ok(up, "get", "workloads")
    expected = [[f"deployment/{example.APP}", example.PLACEMENT_NAME, *tables.copy_rows(binding)[0]]]
    expected += [list(row) for row in tables.copy_rows(binding)[1:]]
    expected += [["(total)", "6", "6/6", tables.condition_text(binding, "Applied")]]
    assert rows(table) == expected
    for name, replicas in chosen.items():
        assert [name, str(replicas), f"{running[name]['status']['readyReplicas']}/{replicas}", "Healthy", "True"] in [
            row[-5:] for row in rows(table)
        ]
    # The tenant's kubeconfig (workspace in its URL) reaches the same tenant as the embedded default.
    code, out, err = await cli(
        up, "get", "workloads", extra_env={"KUBECONFIG": str(up.state_dir / "tenant.kubeconfig")}
    )
    assert (code, out) == (0, table), err
    [listed] = json.loads(await tmc_ok(up, "get", "workloads", "-o", "json"))["items"]
    assert listed["metadata"]["uid"] == binding["metadata"]["uid"]


async def test_get_workloads_watch_follows_a_scale(embedded: Embedded) -> None:
    up = embedded.up
    process = await asyncio.create_subprocess_exec(
        str(VENV_BIN / "tmc"),
        "get",
        "workloads",
        "--watch",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=up.env,
    )
    assert process.stdout is not None

    async def until_line(pattern: str) -> str:
        assert process.stdout is not None
        async for raw in process.stdout:
            line = raw.decode()
            if re.search(pattern, line):
                return line
        raise AssertionError(f"tmc get workloads --watch ended before printing {pattern!r}")

    try:
        await asyncio.wait_for(until_line(r"\(total\)\s+6\s+6/6"), COMMAND_TIMEOUT)
        async with kcp_client(up.state_dir) as kcp:
            await kcp.merge_patch(
                DEPLOYMENTS,
                example.APP,
                {"spec": {"replicas": 8}},
                cluster=TENANT,
                namespace=example.NAMESPACE,
            )
            # The watch redraws as the copies roll out, ending with every replica ready.
            await asyncio.wait_for(until_line(r"\(total\)\s+8\s+8/8"), 60 + SLACK)
            # Back to what tmc up made, so the docs show what a fresh tmc up shows.
            await kcp.merge_patch(
                DEPLOYMENTS,
                example.APP,
                {"spec": {"replicas": 6}},
                cluster=TENANT,
                namespace=example.NAMESPACE,
            )
            await asyncio.wait_for(until_line(r"\(total\)\s+6\s+6/6"), 60 + SLACK)
            await wait_for_object(
                kcp,
                BINDINGS,
                example.BINDING_NAME,
                example.rolled_out,
                cluster=TENANT,
                namespace=example.NAMESPACE,
                timeout=60 + SLACK,
            )
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGINT)  # Ctrl-C, as a user ends a watch
        # Read what is left: a watch blocked writing into a full pipe would never see the Ctrl-C.
        await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode in (0, 130)


async def test_register_checks_the_kubeconfig_then_creates_the_secret_and_registration(embedded: Embedded) -> None:
    up = embedded.up
    kubeconfig = up.state_dir / "clusters" / "eu-central-1" / "kubeconfig"
    register = ["register", "extra", "--kubeconfig", str(kubeconfig), "--location", "eu-central-9"]
    register += ["--label", "region=eu-central", "--label", "tier=spare"]

    # The local cluster is on loopback: refused as the controller would, in one line, nothing written.
    code, out, err = await cli(up, *register)
    assert code == 1, out + err
    [line] = err.strip().splitlines()
    assert line.startswith("error: ServerAddressNotAllowed: the server 127.0.0.1 is a loopback address"), line
    async with kcp_client(up.state_dir) as kcp:
        with pytest.raises(NotFoundError):
            await kcp.get(REGISTRATIONS, "extra", cluster=TENANT)
        with pytest.raises(NotFoundError):
            await kcp.get(SECRETS, "extra-kubeconfig", cluster=TENANT, namespace="default")

        try:
            out = await tmc_ok(up, *register, "--allow-cluster-cidr", "127.0.0.0/8", "--wait", str(60 + SLACK))
            assert out.splitlines() == [
                "secret default/extra-kubeconfig created",
                "clusterregistration extra created",
                "clusterregistration extra is Ready",
            ]
            stored = await kcp.get(REGISTRATIONS, "extra", cluster=TENANT)
            secret = await kcp.get(SECRETS, "extra-kubeconfig", cluster=TENANT, namespace="default")
            assert base64.b64decode(secret["data"]["kubeconfig"]).decode() == kubeconfig.read_text()
            assert stored["metadata"]["labels"] == {"region": "eu-central", "tier": "spare"}
            assert stored["spec"]["location"] == "eu-central-9"
            assert tables.condition_text(stored, "Ready") == "True"
            by_name = {row[0]: row for row in rows(await tmc_ok(up, "get", "clusters", plugin=True))}
            assert set(by_name) == {*DEFAULT_CLUSTERS, "extra"}
            assert by_name["extra"][1:5] == ["True", "eu-central-9", "region=eu-central,tier=spare", "compute"]
            # The same physical cluster as eu-central-1, seen through its own registration.
            assert by_name["extra"][5:] == by_name["eu-central-1"][5:]
        finally:  # leave the tenant as tmc up made it, for the docs test
            for resource, name, namespace in ((REGISTRATIONS, "extra", None), (SECRETS, "extra-kubeconfig", "default")):
                with contextlib.suppress(NotFoundError):
                    await kcp.delete(resource, name, cluster=TENANT, namespace=namespace)


async def test_status_names_the_leader_and_the_lag(embedded: Embedded) -> None:
    up = embedded.up
    async with kcp_client(up.state_dir) as kcp:
        lease = await kcp.get(LEASES, LEASE_NAME, cluster=TMC_WORKSPACE, namespace=LEASE_NAMESPACE)
        registrations = (await kcp.list(REGISTRATIONS, cluster=TENANT))["items"]
        server = kcp.access.server
        version = await kcp.request("GET", "/clusters/root/version")
    out = await tmc_ok(up, "status")
    lines = out.splitlines()
    # The plugin form says the same, but for the Lease's age.
    ageless = [re.sub(r"renewed [0-9.]+s ago", "renewed ago", line) for line in lines]
    plugin = (await tmc_ok(up, "status", plugin=True)).splitlines()
    assert [re.sub(r"renewed [0-9.]+s ago", "renewed ago", line) for line in plugin] == ageless
    assert lines[0].startswith(f"kcp:        {server} ready ("), lines[0]
    assert version["gitVersion"] in lines[0] or f"Kubernetes API {version['major']}.{version['minor']}" in lines[0]
    holder = lease["spec"]["holderIdentity"]
    assert holder
    assert any(line.startswith(f"controllers: {holder} is leading (renewed ") for line in lines), out
    ready = sum(tables.condition_text(r, "Ready") == "True" for r in registrations)
    assert f"  clusters:   {ready}/{len(registrations)} Ready" in lines
    assert ready == len(DEFAULT_CLUSTERS)
    assert "  workloads:  0 of 1 waiting for the sync engine, 0 copies not applied" in lines
    export_rows = {row[0]: row for row in rows(out.split("\n\n", 1)[1])}
    assert set(export_rows) >= {"tmc.kcp.io", "kubernetes"}
    assert all(row[2] == "all True" for name, row in export_rows.items() if name in ("tmc.kcp.io", "kubernetes"))


# -- the docs ---------------------------------------------------------------------------------------------


async def test_every_documented_command_runs_against_tmc_up(embedded: Embedded, tmp_path: Path) -> None:
    if shutil.which("kubectl") is None:
        pytest.skip("the docs use kubectl, which is not installed")
    up = embedded.up
    started = time.monotonic()
    failures: list[str] = []
    ran = 0
    for path, commands in runnable().items():
        if not commands:
            continue
        results = tmp_path / path.stem
        results.mkdir()
        process = await asyncio.create_subprocess_exec(
            "bash",
            "-c",
            script(commands, results),
            stdin=asyncio.subprocess.DEVNULL,
            env=up.env,
            cwd=REPO,
            start_new_session=True,
        )
        try:
            await asyncio.wait_for(process.wait(), COMMAND_TIMEOUT * 2)
        except TimeoutError:
            os.killpg(process.pid, signal.SIGKILL)  # the shell and the command it waits for
            await process.wait()
        done, failed = check(commands, results, f"{path.relative_to(REPO)}", timeout=COMMAND_TIMEOUT * 2)
        ran += done
        failures += failed
    assert not failures, "\n\n".join(failures)
    embedded.timings[f"docs test ({ran} commands)"] = time.monotonic() - started


# -- down, and resuming kept state ------------------------------------------------------------------------


async def test_down_keep_then_up_resumes_and_down_leaves_nothing(embedded: Embedded) -> None:
    up = embedded.up
    assert up.process.returncode is None
    processes = process_tree(up.process.pid)
    ports = ports_of(list(processes))
    saved = json.loads((up.state_dir / "state.json").read_text())
    # tmc up, kcp, and per cluster etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok.
    assert len(processes) >= 2 + 5 * len(DEFAULT_CLUSTERS), processes
    assert {saved["kcp"]["port"], up.health_port, *(c["port"] for c in saved["clusters"].values())} <= ports
    async with kcp_client(up.state_dir) as kcp:
        before = await kcp.get(DEPLOYMENTS, example.APP, cluster=TENANT, namespace=example.NAMESPACE)

    lines = await down(up, keep=True)
    assert lines[0].startswith(f"stopped tmc up (pid {up.process.pid}) in "), lines
    assert lines[-1] == f"kept {up.state_dir}: `tmc up` resumes it"
    assert still_running(processes, up.state_dir) == []
    assert still_listening(ports, processes, up.state_dir) == []
    assert (up.state_dir / "state.json").exists()

    # Resume: the same ports, the data kept (the example is there, not applied again), ready again.
    resumed = await start_up(up.env, up.health_port, embedded.log_dir)
    embedded.up = resumed
    embedded.timings["tmc up (kept state)"] = resumed.seconds_to_ready
    assert f"Resuming the kept state in {up.state_dir}" in resumed.diagnosis()
    assert json.loads((up.state_dir / "state.json").read_text())["kcp"] == saved["kcp"]
    async with kcp_client(up.state_dir) as kcp:
        binding = await wait_for_object(
            kcp,
            BINDINGS,
            example.BINDING_NAME,
            example.rolled_out,
            cluster=TENANT,
            namespace=example.NAMESPACE,
            timeout=60 + SLACK,
        )
        after = await kcp.get(DEPLOYMENTS, example.APP, cluster=TENANT, namespace=example.NAMESPACE)
    assert after["metadata"]["uid"] == before["metadata"]["uid"]  # kcp's data kept, not made anew
    table = await tmc_ok(resumed, "get", "workloads")
    assert ["(total)", "6", "6/6", tables.condition_text(binding, "Applied")] in rows(table)

    processes = process_tree(resumed.process.pid)
    ports = ports_of(list(processes))
    lines = await down(resumed, keep=False)
    assert lines[-1] == f"removed {up.state_dir}"
    assert still_running(processes, up.state_dir) == []
    assert still_listening(ports, processes, up.state_dir) == []
    assert not up.state_dir.exists()
