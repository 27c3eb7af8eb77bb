"""``tmc status``: is TMC working? kcp reachable, exports healthy, controllers leading, how far behind they are.

Everything is read from kcp, so it answers for controllers running anywhere (a Deployment in another
cluster, ``tmc up`` on a laptop):

- **kcp**: ``/readyz`` and ``/version`` of the server the kubeconfig names;
- **exports**: both APIExports in ``root:tmc`` exist with an identity, no False condition, and their
  APIExportEndpointSlices publish a virtual workspace URL (there is none until a first tenant binds);
- **controllers**: the Lease ``tmc-controllers`` (``root:tmc``, namespace ``default``): who holds it and how
  long ago it was renewed. A holder renews every ``retry period`` (2s by default); a renewal older than the
  lease duration means no replica is leading;
- **lag**: through the export's virtual workspace, across every tenant, the placements and workload records
  whose ``status.observedGeneration`` trails their ``metadata.generation`` (a change the controllers have
  not processed yet), copies not applied, and registrations not Ready;
- the APIExport controller's recent Events.

Exit code 1, with one line naming the first problem, when kcp, an export or the leader is not healthy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from tmc.api import CLUSTER_REGISTRATION, EXPORT_NAME, WORKLOAD_BINDING, WORKLOAD_PLACEMENT, WORKLOADS_EXPORT_NAME
from tmc.cli import tables
from tmc.cli.common import describe, fail, load_target, run, stdout_console
from tmc.controllers.run import LEASE_NAME, LEASE_NAMESPACE
from tmc.errors import ApiError, NotFoundError
from tmc.install.desired import TMC_WORKSPACE
from tmc.kcp.paths import ALL_CLUSTERS, ROOT
from tmc.kcp.resources import API_EXPORT_ENDPOINT_SLICES, API_EXPORTS, EVENTS, LEASES, Resource, resource_of
from tmc.kcp.rest import JSON, KubeClient
from tmc.kcp.virtual_workspace import endpoint_urls


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)


def lease_verdict(lease: JSON | None, now: datetime) -> tuple[bool, str]:
    """``(leading, text)`` from the Lease as stored."""
    if lease is None:
        return False, "no Lease: the controllers have never run against this kcp (`tmc controller`)"
    spec = lease.get("spec") or {}
    holder = spec.get("holderIdentity") or ""
    duration = float(spec.get("leaseDurationSeconds") or 15)
    renewed = _parse_time(spec.get("renewTime"))
    age = (now - renewed).total_seconds() if renewed else None
    age_text = f"renewed {age:.1f}s ago" if age is not None else "never renewed"
    transitions = int(spec.get("leaseTransitions") or 0)
    if not holder:
        return False, f"no leader: the Lease was released ({age_text}); start `tmc controller`"
    if age is None or age > duration:
        return False, f"no leader: {holder} held the Lease but {age_text} (lease duration {duration:g}s)"
    return True, f"{holder} is leading ({age_text}, lease duration {duration:g}s, {transitions} transitions)"


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _behind(obj: JSON) -> bool:
    observed = (obj.get("status") or {}).get("observedGeneration")
    return bool(observed != obj["metadata"].get("generation"))


def lag_lines(registrations: list[JSON], placements: list[JSON], bindings: list[JSON]) -> list[str]:
    ready = sum(tables.condition_text(r, "Ready") == "True" for r in registrations)
    unapplied = 0
    for binding in bindings:
        chosen = {c["name"] for c in (binding.get("spec") or {}).get("clusters") or []}
        copies = {c["name"]: c for c in (binding.get("status") or {}).get("clusters") or []}
        unapplied += sum(1 for name in chosen if not (copies.get(name) or {}).get("applied"))
    return [
        f"clusters:   {ready}/{len(registrations)} Ready",
        f"placements: {sum(map(_behind, placements))} of {len(placements)} waiting for the placement controller",
        f"workloads:  {sum(map(_behind, bindings))} of {len(bindings)} waiting for the sync engine,"
        f" {unapplied} copies not applied",
    ]


async def _kcp(client: KubeClient, report: Report) -> bool:
    try:
        code, text = await client.get_raw("/readyz", timeout=10)
    except ApiError as exc:
        report.problems.append(describe(exc))
        report.lines.append(f"kcp:        {client.access.server} unreachable")
        return False
    try:
        # kcp serves /version inside a workspace only (at its base URL it is forbidden even to an admin).
        info = await client.request("GET", f"{ROOT.url_prefix}/version")
        version = str(info.get("gitVersion", "?"))
        if "$Format" in version:  # a kcp built without version stamping: its Kubernetes API level is still known
            version = f"Kubernetes API {info.get('major', '?')}.{info.get('minor', '?')}"
    except ApiError:
        version = "?"
    if code != 200:
        report.problems.append(f"kcp at {client.access.server} is not ready: {text.strip()[:200]}")
    report.lines.append(f"kcp:        {client.access.server} {'ready' if code == 200 else 'NOT ready'} ({version})")
    return code == 200


async def _exports(client: KubeClient, report: Report) -> Table:
    table = tables.new_table("EXPORT", "IDENTITY", "CONDITIONS", "VIRTUAL WORKSPACE")
    for name in (EXPORT_NAME, WORKLOADS_EXPORT_NAME):
        try:
            export = await client.get(API_EXPORTS, name, cluster=TMC_WORKSPACE)
        except NotFoundError:
            report.problems.append(f"APIExport {name} is missing in {TMC_WORKSPACE}: run `tmc install`")
            table.add_row(name, "-", "missing", "-")
            continue
        identity = str((export.get("status") or {}).get("identityHash") or "")
        conditions = (export.get("status") or {}).get("conditions") or []
        bad = [f"{c['type']}={c.get('status')}" for c in conditions if c.get("status") != "True"]
        try:
            urls = endpoint_urls(await client.get(API_EXPORT_ENDPOINT_SLICES, name, cluster=TMC_WORKSPACE))
        except NotFoundError:
            urls = []
        if not identity:
            report.problems.append(f"APIExport {name} has no identity yet: kcp has not processed it")
        if bad:
            report.problems.append(f"APIExport {name}: {', '.join(bad)}; `kubectl get apiexport {name} -o yaml`")
        table.add_row(
            name,
            identity[:12] or "(pending)",
            ", ".join(bad) or ("all True" if conditions else "-"),
            ", ".join(urls) or "(none until a tenant binds)",
        )
    return table


async def _leader(client: KubeClient, report: Report) -> None:
    try:
        lease: JSON | None = await client.get(LEASES, LEASE_NAME, cluster=TMC_WORKSPACE, namespace=LEASE_NAMESPACE)
    except NotFoundError:
        lease = None
    leading, text = lease_verdict(lease, datetime.now(UTC))
    report.lines.append(f"controllers: {text}")
    if not leading:
        report.problems.append(f"controllers: {text}")


async def _lag(client: KubeClient, report: Report) -> None:
    try:
        slice_ = await client.get(API_EXPORT_ENDPOINT_SLICES, EXPORT_NAME, cluster=TMC_WORKSPACE)
    except NotFoundError:
        return
    urls = endpoint_urls(slice_)
    if not urls:
        report.lines.append("lag:        no tenant has bound TMC yet")
        return
    listed: dict[str, list[JSON]] = {}
    try:
        for url in urls:  # one URL per kcp shard
            async with KubeClient(client.access.with_server(url), timeout=30) as shard:
                for info in (CLUSTER_REGISTRATION, WORKLOAD_PLACEMENT, WORKLOAD_BINDING):
                    resource: Resource = resource_of(info)
                    items = (await shard.list(resource, cluster=ALL_CLUSTERS)).get("items") or []
                    listed.setdefault(info.kind, []).extend(items)
    except ApiError as exc:
        report.lines.append(f"lag:        cannot read across tenants through the virtual workspace ({describe(exc)})")
        return
    lines = lag_lines(listed["ClusterRegistration"], listed["WorkloadPlacement"], listed["WorkloadBinding"])
    report.lines.append("lag (every tenant):")
    report.lines.extend(f"  {line}" for line in lines)


async def _events(client: KubeClient) -> Table | None:
    events = await client.list(EVENTS, cluster=TMC_WORKSPACE, namespace="default")
    ours = [e for e in events["items"] if (e.get("source") or {}).get("component") == "tmc"]
    if not ours:
        return None
    table = tables.new_table("LAST SEEN", "OBJECT", "TYPE", "REASON", "COUNT", "MESSAGE")
    for event in sorted(ours, key=lambda e: e.get("lastTimestamp") or "")[-10:]:
        table.add_row(
            event.get("lastTimestamp", ""),
            event["involvedObject"]["name"],
            event.get("type", ""),
            event.get("reason", ""),
            str(event.get("count", 1)),
            event.get("message", ""),
        )
    return table


def status(
    kubeconfig: Path | None = typer.Option(
        None, "--kubeconfig", envvar="KUBECONFIG", help="kcp kubeconfig (default: the one `tmc up` wrote)."
    ),
) -> None:
    """Is TMC working: kcp reachable, exports healthy, controllers leading (Lease), lag across tenants."""

    async def main() -> None:
        target = load_target(kubeconfig)
        report = Report()
        out: Console = stdout_console()
        async with target.client(timeout=15) as client:
            if not await _kcp(client, report):
                out.print("\n".join(report.lines), markup=False)
                fail(report.problems[0])
            exports = await _exports(client, report)
            await _leader(client, report)
            await _lag(client, report)
            events = await _events(client)
        out.print("\n".join(report.lines), markup=False)
        out.print()
        out.print(exports)
        if events is not None:
            out.print()
            out.print("Recent events of the APIExport controller (root:tmc):", markup=False)
            out.print(events)
        if report.problems:
            fail(
                report.problems[0]
                + (f" (and {len(report.problems) - 1} more above)" if len(report.problems) > 1 else "")
            )

    run(main())
