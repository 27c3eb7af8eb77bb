"""The ``tmc`` command (and the kubectl plugin ``kubectl tmc``): thin wrappers over the package's public functions.

Commands live in small modules (``get``, ``register``, ``status``, ``local`` for up/down) and are registered here.
Every error ends in one line on stderr and a non-zero exit code, never a traceback (``tmc.cli.common``); usage
errors too (``_OneLineErrors``), where typer would draw a box.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import typer
from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError
from typer.core import TyperGroup

from tmc.cli.common import DEFAULT_STATE_DIR, embedded_admin_kubeconfig, err
from tmc.cli.common import run as _run
from tmc.cli.get import get
from tmc.cli.local import down, up
from tmc.cli.register import register
from tmc.cli.status import status
from tmc.errors import ConfigError
from tmc.kcp.kubeconfig import load_kubeconfig
from tmc.kcp.paths import LogicalClusterPath, base_url
from tmc.kcp.rest import KubeClient


class _OneLineErrors(TyperGroup):
    """Usage errors as one line (``error: ... (see `tmc get --help`)``), exit code 2, like every other error."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
        try:
            result = super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
        except NoArgsIsHelpError:  # the help was printed
            sys.exit(2)
        except UsageError as exc:
            hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx is not None else ""
            err.print(f"error: {exc.format_message()}{hint}", markup=False)
            sys.exit(exc.exit_code)
        except ClickException as exc:
            err.print(f"error: {exc.format_message()}", markup=False)
            sys.exit(exc.exit_code)
        except typer.Abort:
            sys.exit(1)
        sys.exit(result if isinstance(result, int) else 0)


app = typer.Typer(
    cls=_OneLineErrors,
    help="TMC: place kcp tenants' workloads on physical Kubernetes clusters.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command()(up)
app.command()(down)
app.command()(get)
app.command()(register)
app.command()(status)

KUBECONFIG_OPTION = typer.Option(
    None, "--kubeconfig", envvar="KUBECONFIG", help="kcp admin kubeconfig (any workspace URL of the server)."
)


def _kcp_client(kubeconfig: Path | None) -> KubeClient:
    """A client at kcp's base URL: commands address workspaces by path themselves."""
    if kubeconfig is None:
        embedded = embedded_admin_kubeconfig(DEFAULT_STATE_DIR)
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
    workspace: str | None = typer.Option(
        None, "--workspace", "-w", help="Tenant workspace path, e.g. root:acme (default: the kubeconfig's)."
    ),
    kubeconfig: Path | None = KUBECONFIG_OPTION,
) -> None:
    """Per workload and cluster: eligible or not and why, selected, replicas and score."""
    import time

    from rich.table import Table

    from tmc.cli.common import load_target, stdout_console
    from tmc.controllers.workloadplacement.explain import explain_placement

    namespace, _, name = placement.rpartition("/")

    async def run() -> None:
        target = load_target(kubeconfig, workspace)
        async with target.client() as client:
            verdicts = await explain_placement(client, target.tenant(), namespace or "default", name, now=time.time())
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
        # Wide when piped, as every table of the CLI: a cell cut to the terminal's width would lose the reason.
        stdout_console().print(table if verdicts else "no workload matches the placement")

    _run(run())


@app.command()
def version() -> None:
    """Print the TMC version and the pinned server versions."""
    import tmc

    typer.echo(f"tmc {tmc.__version__}")


def main() -> None:
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    # Installed as the kubectl plugin ``kubectl-tmc``: kubectl runs it for `kubectl tmc ...`; say so in usage lines.
    plugin = os.path.basename(sys.argv[0]) == "kubectl-tmc"
    app(prog_name="kubectl tmc" if plugin else "tmc")


if __name__ == "__main__":
    main()
