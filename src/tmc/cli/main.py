"""The ``tmc`` command: thin wrappers over the package's public functions."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import typer
from rich.console import Console

from tmc.errors import ConfigError, TMCError
from tmc.kcp.kubeconfig import load_kubeconfig
from tmc.kcp.paths import LogicalClusterPath, base_url
from tmc.kcp.rest import KubeClient

app = typer.Typer(help="TMC: place kcp tenants' workloads on physical Kubernetes clusters.", no_args_is_help=True)
console = Console(stderr=True, soft_wrap=True)

DEFAULT_STATE_DIR = Path.home() / ".cache" / "tmc" / "embedded"


def _run(coro: object) -> None:
    try:
        asyncio.run(coro)  # type: ignore[arg-type]
    except TMCError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None


@app.command()
def up(
    state_dir: Path = typer.Option(DEFAULT_STATE_DIR, help="Where kcp, clusters and kubeconfigs live."),
    cluster: list[str] = typer.Option(
        [],
        "--cluster",
        help="A local cluster NAME=REGION:NODES[:CPU[:MEMORY]] per node, e.g. big=us-west:6:8:32Gi; repeatable. "
        "Default: us-west-1 (2 small nodes), us-west-2 (4 large), eu-central-1 (3 small).",
    ),
    tenant: str = typer.Option("root:acme", help="Tenant workspace to create."),
    health_port: int = typer.Option(8080, help="Port of the controllers' /metrics, /healthz, /readyz."),
) -> None:
    """Run the embedded default: kcp, live local clusters, TMC installed, a bound tenant, controllers; until Ctrl-C."""
    from tmc.local.embedded import run_embedded
    from tmc.local.environment import DEFAULT_CLUSTERS
    from tmc.local.nodes import parse_cluster_option

    try:
        clusters = dict(parse_cluster_option(value) for value in cluster) if cluster else dict(DEFAULT_CLUSTERS)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--cluster") from None
    _run(run_embedded(state_dir, clusters, tenant, console, health_port=health_port))


KUBECONFIG_OPTION = typer.Option(
    None, "--kubeconfig", envvar="KUBECONFIG", help="kcp admin kubeconfig (any workspace URL of the server)."
)


def _kcp_client(kubeconfig: Path | None) -> KubeClient:
    """A client at kcp's base URL: commands address workspaces by path themselves."""
    if kubeconfig is None:
        embedded = DEFAULT_STATE_DIR / "kcp" / "tmc-admin.kubeconfig"
        if not embedded.exists():
            raise ConfigError("no kubeconfig: pass --kubeconfig or set KUBECONFIG (or run `tmc up` first)")
        kubeconfig = embedded
    access = load_kubeconfig(kubeconfig)
    return KubeClient(access.with_server(base_url(access.server)))


@app.command()
def install(kubeconfig: Path | None = KUBECONFIG_OPTION) -> None:
    """Create or upgrade workspace root:tmc with TMC's APIResourceSchemas and APIExports (idempotent)."""
    from tmc.install.install import install as run_install

    async def run() -> None:
        async with _kcp_client(kubeconfig) as client:
            report = await run_install(client)
        for what, outcome in report.changes:
            typer.echo(f"{outcome:>9}  {what}")

    _run(run())


@app.command()
def bind(
    workspace: str = typer.Argument(..., help="Tenant workspace path, e.g. root:acme."),
    kubeconfig: Path | None = KUBECONFIG_OPTION,
) -> None:
    """Bind a tenant workspace to TMC's exports, accepting their permission claims; waits until served."""
    from tmc.install.bind import bind as run_bind

    async def run() -> None:
        path = LogicalClusterPath.parse(workspace)
        async with _kcp_client(kubeconfig) as client:
            bound = await run_bind(client, path)
        typer.echo(f"{workspace}: bound {', '.join(bound)}")

    _run(run())


@app.command()
def controller(
    kubeconfig: Path | None = KUBECONFIG_OPTION,
    health_port: int = typer.Option(8080, envvar="TMC_HEALTH_PORT", help="Port of /metrics, /healthz, /readyz."),
    health_host: str = typer.Option("127.0.0.1", envvar="TMC_HEALTH_HOST"),
    leader_election: bool = typer.Option(True, help="Elect one active replica through a Lease in root:tmc."),
    resync_period: float = typer.Option(60.0, envvar="TMC_RESYNC_PERIOD", help="Seconds between full resyncs."),
    heartbeat_period: float = typer.Option(10.0, envvar="TMC_HEARTBEAT_PERIOD", help="Seconds between probes."),
    grace_period: float = typer.Option(30.0, envvar="TMC_GRACE_PERIOD", help="Missed-heartbeat time to NotReady."),
    probe_timeout: float = typer.Option(5.0, envvar="TMC_PROBE_TIMEOUT", help="Deadline of one cluster probe."),
    status_period: float = typer.Option(
        300.0, envvar="TMC_STATUS_PERIOD", help="Seconds between lastHeartbeatTime writes while nothing changes."
    ),
    allow_cluster_cidr: list[str] = typer.Option(
        [],
        "--allow-cluster-cidr",
        help="Allow tenant cluster servers in this range (e.g. 127.0.0.0/8) although it is loopback or"
        " link-local, which are refused by default; repeatable.",
    ),
    identity: str = typer.Option(
        "",
        envvar="TMC_IDENTITY",
        help="This process's name in the Lease and in managedFields (default: hostname_<random>).",
    ),
    lease_duration: float = typer.Option(
        15.0,
        envvar="TMC_LEASE_DURATION",
        help="Seconds a standby waits, after it last saw the Lease change, to take over.",
    ),
    renew_deadline: float = typer.Option(
        10.0,
        envvar="TMC_RENEW_DEADLINE",
        help="Seconds the leader keeps working without a successful renewal (must be below --lease-duration).",
    ),
    retry_period: float = typer.Option(
        2.0, envvar="TMC_RETRY_PERIOD", help="Seconds between renewals, and between tries of a standby without a watch."
    ),
    shutdown_timeout: float = typer.Option(
        30.0, envvar="TMC_SHUTDOWN_TIMEOUT", help="Seconds a clean stop lets in-flight reconciles finish."
    ),
    write_log: Path | None = typer.Option(
        None,
        envvar="TMC_WRITE_LOG",
        help="Append one JSON line per write to kcp (time, identity, path): an audit trail.",
    ),
    log_level: str = typer.Option("INFO", envvar="TMC_LOG_LEVEL"),
    log_format: str = typer.Option(
        "text",
        envvar="TMC_LOG_FORMAT",
        help="text, or json: one object per line with controller, workspace, key and cluster fields.",
    ),
) -> None:
    """Run the TMC controllers until SIGTERM/Ctrl-C."""
    from tmc.controllers.clusterregistration.reconcile import HealthSettings
    from tmc.controllers.run import ControllerOptions, run_controllers
    from tmc.runtime import install_signal_handlers
    from tmc.runtime.logcontext import LOG_FORMATS, configure_logging

    if log_format not in LOG_FORMATS:
        raise typer.BadParameter(f"must be one of {', '.join(LOG_FORMATS)}", param_hint="--log-format")
    configure_logging(log_level, log_format)

    async def run() -> None:
        options = ControllerOptions(  # inside: a ConfigError (e.g. inconsistent lease timings) is printed
            health_host=health_host,
            health_port=health_port,
            leader_election=leader_election,
            identity=identity,
            lease_duration=lease_duration,
            renew_deadline=renew_deadline,
            retry_period=retry_period,
            shutdown_timeout=shutdown_timeout,
            write_log=write_log,
            resync_period=resync_period,
            health=HealthSettings(heartbeat_period, grace_period, probe_timeout, status_period=status_period),
            allowed_cluster_cidrs=tuple(allow_cluster_cidr),
        )
        async with _kcp_client(kubeconfig) as client:
            access = client.access
        stop = asyncio.Event()
        install_signal_handlers(stop)
        await run_controllers(access, options, stop)

    _run(run())


@app.command()
def explain(
    placement: str = typer.Argument(
        ..., help="<namespace>/<name> of a WorkloadPlacement (namespace default if omitted)."
    ),
    workspace: str = typer.Option(..., "--workspace", "-w", help="Tenant workspace path, e.g. root:acme."),
    kubeconfig: Path | None = KUBECONFIG_OPTION,
) -> None:
    """Per workload and cluster: eligible or not and why, selected, replicas and score."""
    import time

    from rich.table import Table

    from tmc.controllers.workloadplacement.explain import explain_placement

    namespace, _, name = placement.rpartition("/")

    async def run() -> None:
        async with _kcp_client(kubeconfig) as client:
            verdicts = await explain_placement(
                client, LogicalClusterPath.parse(workspace), namespace or "default", name, now=time.time()
            )
        table = Table("workload", "cluster", "eligible", "selected", "replicas", "score", "why")
        for v in verdicts:
            table.add_row(
                v.workload,
                v.cluster,
                "yes" if v.eligible else "no",
                "yes" if v.selected else "",
                "" if v.replicas is None else str(v.replicas),
                "" if v.score is None else str(v.score),
                "; ".join(v.reasons),
            )
        Console(soft_wrap=True).print(table if verdicts else "no workload matches the placement")

    _run(run())


@app.command()
def status(kubeconfig: Path | None = KUBECONFIG_OPTION) -> None:
    """TMC's exports in root:tmc (identity, virtual workspace) and the APIExport controller's recent events."""
    from rich.table import Table

    from tmc.api import EXPORT_NAME, WORKLOADS_EXPORT_NAME
    from tmc.install.desired import TMC_WORKSPACE
    from tmc.kcp.resources import API_EXPORT_ENDPOINT_SLICES, API_EXPORTS, EVENTS
    from tmc.kcp.virtual_workspace import endpoint_urls

    async def run() -> None:
        async with _kcp_client(kubeconfig) as client:
            exports = Table("export", "identity", "virtual workspace")
            for name in (EXPORT_NAME, WORKLOADS_EXPORT_NAME):
                export = await client.get(API_EXPORTS, name, cluster=TMC_WORKSPACE)
                slice_ = await client.get(API_EXPORT_ENDPOINT_SLICES, name, cluster=TMC_WORKSPACE)
                identity = str(export.get("status", {}).get("identityHash", ""))[:12] or "(pending)"
                exports.add_row(name, identity, ", ".join(endpoint_urls(slice_)) or "(no binding yet)")
            events = await client.list(EVENTS, cluster=TMC_WORKSPACE, namespace="default")
        table = Table("last seen", "object", "type", "reason", "count", "message")
        ours = [e for e in events["items"] if e.get("source", {}).get("component") == "tmc"]
        for event in sorted(ours, key=lambda e: e.get("lastTimestamp") or "")[-20:]:
            table.add_row(
                event.get("lastTimestamp", ""),
                event["involvedObject"]["name"],
                event.get("type", ""),
                event.get("reason", ""),
                str(event.get("count", 1)),
                event.get("message", ""),
            )
        out = Console(soft_wrap=True)
        out.print(exports)
        out.print(table if ours else "no events from the APIExport controller")

    _run(run())


@app.command()
def version() -> None:
    """Print the TMC version and the pinned server versions."""
    import tmc

    typer.echo(f"tmc {tmc.__version__}")


def main() -> None:
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    app()


if __name__ == "__main__":
    main()
