"""``tmc register NAME --kubeconfig FILE --location L --label k=v``: a cluster into a tenant workspace.

The kubeconfig is checked here by the controller's own code (``tmc.clusters.policy``): the field allow-list
(``check_kubeconfig``) and the address policy (``AddressPolicy``: loopback, link-local, unspecified and
multicast refused unless ``--allow-cluster-cidr`` allows the range, kcp's own address always refused). So
what the controller would refuse later, with a condition on the registration, is refused now with the same
reason, and nothing is written. Pass the same ``--allow-cluster-cidr`` values the operator gave the
controller. Then the Secret and the registration are created or updated (``tmc.install.register``).

``--kubeconfig`` is the *cluster's* kubeconfig here (as in the command's synopsis); kcp is reached with
``--kcp-kubeconfig`` or ``KUBECONFIG``.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import typer

from tmc.api._base import DNS_LABEL_PATTERN, LABEL_VALUE_PATTERN, QUALIFIED_NAME_PATTERN
from tmc.cli.common import err, load_target, not_served, run
from tmc.cli.tables import condition_text
from tmc.clusters.policy import AddressPolicy, check_kubeconfig, resolve_endpoints
from tmc.errors import ConfigError, NotFoundError
from tmc.install.register import REGISTRATIONS, ClusterSpec, register_cluster
from tmc.kcp.paths import LogicalClusterPath
from tmc.kcp.rest import KubeClient
from tmc.kcp.watching import wait_for_object


def parse_labels(values: list[str]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for value in values:
        key, sep, label_value = value.partition("=")
        if not sep:
            raise typer.BadParameter(f"{value!r}: expected KEY=VALUE, e.g. region=us-west", param_hint="--label")
        if not re.match(QUALIFIED_NAME_PATTERN, key) or len(key.rpartition("/")[2]) > 63:
            raise typer.BadParameter(f"{key!r} is not a valid label key", param_hint="--label")
        if not re.match(LABEL_VALUE_PATTERN, label_value) or len(label_value) > 63:
            raise typer.BadParameter(f"{label_value!r} is not a valid label value", param_hint="--label")
        labels[key] = label_value
    return labels


def register(
    name: str = typer.Argument(..., help="Name of the ClusterRegistration, e.g. us-west-1."),
    kubeconfig: Path = typer.Option(..., "--kubeconfig", help="The cluster's kubeconfig (stored in a Secret)."),
    location: str = typer.Option(..., "--location", help="The cluster's location, a DNS label, e.g. us-west-1."),
    label: list[str] = typer.Option([], "--label", help="A label KEY=VALUE placements select on; repeatable."),
    capability: list[str] = typer.Option(
        ["compute"], "--capability", help="A capability the cluster offers (compute, storage, ...); repeatable."
    ),
    allow_cluster_cidr: list[str] = typer.Option(
        [],
        "--allow-cluster-cidr",
        help="Allow a server address in this range although it is loopback or link-local (as the controller's"
        " flag of the same name); repeatable.",
    ),
    secret_namespace: str = typer.Option("default", "--secret-namespace", help="Namespace of the kubeconfig Secret."),
    wait: float = typer.Option(0.0, "--wait", help="Seconds to wait for the cluster to become Ready (0: do not wait)."),
    workspace: str | None = typer.Option(None, "--workspace", help="Tenant workspace, e.g. root:acme."),
    kcp_kubeconfig: Path | None = typer.Option(
        None, "--kcp-kubeconfig", envvar="KUBECONFIG", help="kcp's kubeconfig (default: the one `tmc up` wrote)."
    ),
) -> None:
    """Register a cluster: check its kubeconfig with TMC's policy, create the Secret and the ClusterRegistration."""
    labels = parse_labels(label)
    if not re.match(DNS_LABEL_PATTERN, location) or len(location) > 63:
        raise typer.BadParameter(f"{location!r} must be a lowercase DNS label, e.g. us-west-1", param_hint="--location")
    try:
        policy = AddressPolicy.parse(allow_cluster_cidr)
    except ConfigError as exc:
        raise typer.BadParameter(str(exc), param_hint="--allow-cluster-cidr") from None

    async def main() -> None:
        try:
            text = kubeconfig.read_text()
        except OSError as exc:
            raise ConfigError(f"cannot read --kubeconfig {kubeconfig}: {exc.strerror}") from None
        access = check_kubeconfig(text, source=str(kubeconfig))
        target = load_target(kcp_kubeconfig, workspace)
        tenant = target.tenant()
        server = urlsplit(access.server)
        checked = policy.denying(await resolve_endpoints([target.access.server]))
        try:
            await checked.resolve(str(server.hostname), server.port or 443)
        except OSError as exc:  # cannot resolve from here; the controller may well (another network)
            err.print(f"warning: {exc}; registering anyway, the controller checks again when it connects")
        spec = ClusterSpec(
            name=name,
            kubeconfig=text,
            location=location,
            labels=labels,
            capabilities=tuple(capability),
            secret_namespace=secret_namespace,
        )
        async with target.client() as client:
            try:
                report = await register_cluster(client, tenant, spec)
            except NotFoundError as exc:
                raise not_served(exc, "ClusterRegistrations (or Secrets)", tenant) from None
            for what, outcome in report:
                typer.echo(f"{what} {outcome}")
            if wait > 0:
                await _wait_ready(client, tenant, name, wait)

    run(main())


async def _wait_ready(client: KubeClient, tenant: LogicalClusterPath, name: str, timeout: float) -> None:
    try:
        await wait_for_object(
            client,
            REGISTRATIONS,
            name,
            lambda obj: condition_text(obj, "Ready") == "True",
            cluster=tenant,
            timeout=timeout,
        )
    except TimeoutError:
        current = await client.get(REGISTRATIONS, name, cluster=tenant)
        raise ConfigError(
            f"cluster {name} is not Ready after {timeout:g}s (Ready: {condition_text(current, 'Ready')});"
            " `tmc get clusters -o yaml` shows its conditions"
        ) from None
    typer.echo(f"clusterregistration {name} is Ready")
