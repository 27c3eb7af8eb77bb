"""``tmc up`` and ``tmc down``: the embedded default (``tmc.local.embedded`` says what it holds and how it resumes)."""

from __future__ import annotations

from pathlib import Path

import typer

from tmc.cli.common import DEFAULT_STATE_DIR, err, run, stdout_console

STATE_DIR_OPTION = typer.Option(
    DEFAULT_STATE_DIR, "--state-dir", envvar="TMC_STATE_DIR", help="Where kcp, clusters and kubeconfigs live."
)


def up(
    state_dir: Path = STATE_DIR_OPTION,
    cluster: list[str] = typer.Option(
        [],
        "--cluster",
        help="A local cluster NAME=REGION:NODES[:CPU[:MEMORY]] per node, e.g. big=us-west:6:8:32Gi; repeatable. "
        "Default: us-west-1 (2 small nodes), us-west-2 (4 large), eu-central-1 (3 small).",
    ),
    tenant: str = typer.Option("root:acme", help="Tenant workspace to create."),
    replicas: int = typer.Option(6, "--replicas", min=1, max=1000, help="Replicas of the example Deployment web."),
    health_port: int = typer.Option(8080, help="Port of the controllers' /metrics, /healthz, /readyz."),
    fresh: bool = typer.Option(False, "--fresh", help="Start from nothing even if kept state exists."),
) -> None:
    """Run the embedded default: kcp, 3 live clusters, TMC, a tenant and an example; until Ctrl-C or `tmc down`."""
    from tmc.local.embedded import run_embedded
    from tmc.local.nodes import parse_cluster_option

    try:
        clusters = dict(parse_cluster_option(value) for value in cluster) if cluster else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--cluster") from None
    out = stdout_console()
    run(
        run_embedded(state_dir, clusters, tenant, err, health_port=health_port, replicas=replicas, fresh=fresh, out=out)
    )


def down(
    state_dir: Path = STATE_DIR_OPTION,
    keep: bool = typer.Option(
        False, "--keep", help="Keep the state (kcp's and the clusters' data): `tmc up` resumes it."
    ),
) -> None:
    """Stop a running `tmc up` (SIGTERM, then its servers) and remove its state unless --keep."""
    from tmc.local.embedded import stop_embedded

    for line in stop_embedded(state_dir, keep=keep):
        typer.echo(line)
