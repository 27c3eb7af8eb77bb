"""``tmc get clusters | placements | workloads``: a tenant's TMC objects as tables, YAML or JSON, listed or watched.

``workloads`` are the WorkloadBindings: one per placed workload, with its chosen clusters (spec, written by
the placement controller) and each copy's state (status, written by the sync engine), so one row per copy
answers "where does it run and is it ready there".
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncGenerator, Callable, Iterable
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
import yaml
from rich.console import Console
from rich.live import Live
from rich.table import Table

from tmc.api import CLUSTER_REGISTRATION, WORKLOAD_BINDING, WORKLOAD_PLACEMENT
from tmc.cli import tables
from tmc.cli.common import load_target, not_served, run, stdout_console
from tmc.cli.watch import Change, changes
from tmc.errors import ConfigError, NotFoundError
from tmc.kcp.resources import Resource, resource_of
from tmc.kcp.rest import JSON


class Output(StrEnum):
    table = "table"
    yaml = "yaml"
    json = "json"


Renderer = Callable[[Iterable[JSON], bool], Table]


def _clusters(items: Iterable[JSON], _all_namespaces: bool) -> Table:
    return tables.clusters_table(items)


def _placements(items: Iterable[JSON], all_namespaces: bool) -> Table:
    return tables.placements_table(items, all_namespaces=all_namespaces)


def _workloads(items: Iterable[JSON], all_namespaces: bool) -> Table:
    return tables.workloads_table(items, all_namespaces=all_namespaces)


# Every name kubectl users might type, to (resource, renderer).
KINDS: dict[str, tuple[Resource, Renderer]] = {}
for _names, _resource, _renderer in (
    (
        ("clusters", "cluster", "clusterregistrations", "clusterregistration", "cr"),
        resource_of(CLUSTER_REGISTRATION),
        _clusters,
    ),
    (
        ("placements", "placement", "workloadplacements", "workloadplacement", "wp"),
        resource_of(WORKLOAD_PLACEMENT),
        _placements,
    ),
    (
        ("workloads", "workload", "workloadbindings", "workloadbinding", "wb", "bindings"),
        resource_of(WORKLOAD_BINDING),
        _workloads,
    ),
):
    for _name in _names:
        KINDS[_name] = (_resource, _renderer)


def get(
    kind: str = typer.Argument(..., help="clusters, placements or workloads.", metavar="clusters|placements|workloads"),
    output: Output = typer.Option(Output.table, "--output", "-o", help="table, yaml or json."),
    watch: bool = typer.Option(False, "--watch", "-w", help="After listing, show every change (a watch)."),
    namespace: str = typer.Option("default", "--namespace", "-n", help="Namespace of placements and workloads."),
    all_namespaces: bool = typer.Option(
        False, "--all-namespaces", "-A", help="Placements/workloads of every namespace."
    ),
    workspace: str | None = typer.Option(
        None, "--workspace", help="Tenant workspace path, e.g. root:acme (default: the kubeconfig's workspace)."
    ),
    kubeconfig: Path | None = typer.Option(
        None, "--kubeconfig", envvar="KUBECONFIG", help="kcp kubeconfig (default: the one `tmc up` wrote)."
    ),
) -> None:
    """List (or watch) the workspace's clusters, placements or workloads (where each runs, ready per cluster)."""
    if kind.lower() not in KINDS:
        raise typer.BadParameter(f"unknown kind {kind!r}: use clusters, placements or workloads", param_hint="KIND")
    resource, renderer = KINDS[kind.lower()]
    scoped_namespace = None if (all_namespaces or not resource.namespaced) else namespace
    show_namespace = all_namespaces and resource.namespaced

    async def main() -> None:
        target = load_target(kubeconfig, workspace)
        tenant = target.tenant()
        async with target.client() as client:
            stream: AsyncGenerator[Change, None] = changes(client, resource, cluster=tenant, namespace=scoped_namespace)
            try:
                first = await anext(stream)
            except NotFoundError as exc:
                raise not_served(exc, f"{resource.plural}.{resource.group}", tenant) from None
            if not watch:
                await stream.aclose()
                _print_list(first.items, output, lambda items: renderer(items, show_namespace), tenant, resource)
                return
            out = stdout_console()
            if output is not Output.table:
                for item in first.items:
                    _print_object(item, output)
                async for change in stream:
                    if change.obj is not None:
                        _print_object(change.obj, output)
                return
            if not out.is_terminal:  # a log of states: one table per change of what the table shows
                shown = _text(out, renderer(first.items, show_namespace))
                out.out(shown, end="")
                async for change in stream:
                    table = _text(out, renderer(change.items, show_namespace))
                    if table != shown:  # status heartbeats change objects, not the table
                        out.out("\n" + table, end="")
                        shown = table
                return
            with Live(renderer(first.items, show_namespace), console=out, auto_refresh=False) as live:
                async for change in stream:
                    live.update(renderer(change.items, show_namespace), refresh=True)

    run(main())


def _text(console: Console, table: Table) -> str:
    with console.capture() as captured:
        console.print(table)
    return captured.get()


def _print_list(
    items: list[JSON], output: Output, render: Callable[[list[JSON]], Table], tenant: object, resource: Resource
) -> None:
    if output is Output.table:
        if not items:
            typer.echo(f"No {resource.plural} found in {tenant}.", err=True)
            return
        stdout_console().print(render(items))
        return
    listing = {"apiVersion": "v1", "kind": "List", "items": items, "metadata": {}}
    _print_object(listing, output, document=False)


def _print_object(obj: dict[str, Any], output: Output, *, document: bool = True) -> None:
    """``document``: a YAML stream of several objects (a watch) separates them with ``---``."""
    if output is Output.json:
        sys.stdout.write(json.dumps(obj, indent=2) + "\n")
    elif output is Output.yaml:
        sys.stdout.write(("---\n" if document else "") + yaml.safe_dump(obj, sort_keys=False))
    else:  # pragma: no cover - callers handle tables
        raise ConfigError(f"unknown output {output}")
    sys.stdout.flush()
