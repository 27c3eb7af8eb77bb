"""The ``tmc`` command: thin wrappers over the package's public functions."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import typer
from rich.console import Console

from tmc.errors import TMCError

app = typer.Typer(
    help="TMC: place kcp tenants' workloads on physical Kubernetes clusters.", no_args_is_help=True
)
console = Console(stderr=True)

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
    clusters: int = typer.Option(2, min=1, max=10, help="How many local physical clusters to start."),
    tenant: str = typer.Option("root:acme", help="Tenant workspace to create."),
) -> None:
    """Run the embedded default: kcp + local physical clusters + a tenant; stays up until Ctrl-C."""
    from tmc.local.embedded import run_embedded

    names = tuple(f"cluster-{index + 1}" for index in range(clusters))
    _run(run_embedded(state_dir, names, tenant, console))


@app.command()
def version() -> None:
    """Print the TMC version and the pinned server versions."""
    import tmc

    typer.echo(f"tmc {tmc.__version__}")


def main() -> None:
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    app()
