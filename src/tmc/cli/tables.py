"""Tables of ``tmc get``, kubectl-shaped: upper-case headers, no borders, one object (or one copy) per row.

Pure functions from the objects as the server returns them (plain JSON) to ``rich`` tables, so they are tested
from fixture objects and the same code renders a list, a watch, and the end of ``tmc up``. Missing fields show
as ``-`` (a registration TMC has not probed yet has no capacity), never as an error: the server's object is the
truth and may be older or newer than this CLI.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

JSON = dict[str, Any]
NONE = "<none>"
MISSING = "-"


def new_table(*headers: str) -> Table:
    table = Table(box=None, pad_edge=False, header_style="bold", show_edge=False, padding=(0, 3, 0, 0))
    for header in headers:
        table.add_column(header, no_wrap=True)
    return table


def render(table: Table, width: int = 250) -> str:
    """The table as plain text (tests, logs)."""
    out = io.StringIO()
    Console(file=out, width=width, color_system=None, legacy_windows=False).print(table)
    return out.getvalue()


def condition(obj: JSON, kind: str) -> JSON | None:
    for item in (obj.get("status") or {}).get("conditions") or []:
        if item.get("type") == kind:
            return dict(item)
    return None


def condition_text(obj: JSON, kind: str) -> str:
    """``True``, or the status with its reason: ``False (HeartbeatMissed)``; ``-`` before TMC wrote any."""
    found = condition(obj, kind)
    if found is None:
        return MISSING
    status = str(found.get("status", "Unknown"))
    reason = found.get("reason")
    return status if status == "True" or not reason else f"{status} ({reason})"


def labels_text(labels: dict[str, str] | None) -> str:
    return ",".join(f"{key}={value}" for key, value in sorted((labels or {}).items())) or NONE


def _text(value: Any) -> str:
    return MISSING if value is None or value == "" else str(value)


# -- clusters ---------------------------------------------------------------------------------------------


def capabilities_text(registration: JSON) -> str:
    """Effective capabilities (status) when TMC has merged them, else the declared ones (spec)."""
    effective = (registration.get("status") or {}).get("capabilities")
    if effective:
        return ",".join(
            c["type"] if c.get("available") else f"{c['type']}(unavailable)"
            for c in sorted(effective, key=lambda c: c["type"])
        )
    declared = (registration.get("spec") or {}).get("capabilities") or []
    names = [c["type"] if c.get("available", True) else f"{c['type']}(unavailable)" for c in declared]
    return ",".join(sorted(names)) or NONE


def clusters_table(registrations: Iterable[JSON]) -> Table:
    table = new_table("NAME", "READY", "LOCATION", "LABELS", "CAPABILITIES", "CPU", "MEMORY", "NODES", "VERSION")
    for item in sorted(registrations, key=lambda r: r["metadata"]["name"]):
        status = item.get("status") or {}
        allocatable = status.get("allocatable") or {}
        table.add_row(
            item["metadata"]["name"],
            condition_text(item, "Ready"),
            _text((item.get("spec") or {}).get("location")),
            labels_text(item["metadata"].get("labels")),
            capabilities_text(item),
            _text(allocatable.get("cpu")),
            _text(allocatable.get("memory")),
            _text(status.get("nodeCount")),
            _text(status.get("kubernetesVersion")),
        )
    return table


# -- placements -------------------------------------------------------------------------------------------


def placements_table(placements: Iterable[JSON], *, all_namespaces: bool = False) -> Table:
    headers = ("NAME", "STRATEGY", "WORKLOADS", "CLUSTERS", "SCHEDULED")
    table = new_table(*(("NAMESPACE", *headers) if all_namespaces else headers))
    for item in sorted(placements, key=_namespaced_key):
        status = item.get("status") or {}
        row = [
            item["metadata"]["name"],
            _text((item.get("spec") or {}).get("strategy")),
            f"{int(status.get('scheduledWorkloads') or 0)}/{int(status.get('workloads') or 0)}",
            status.get("selectedClusters") or NONE,
            condition_text(item, "Scheduled"),
        ]
        table.add_row(*([item["metadata"].get("namespace", "")] if all_namespaces else []), *row)
    return table


# -- workloads (WorkloadBindings) -------------------------------------------------------------------------


def workload_name(binding: JSON) -> str:
    workload = (binding.get("spec") or {}).get("workload") or {}
    kind = str(workload.get("kind") or "?").lower()
    return f"{kind}/{workload.get('name') or binding['metadata']['name']}"


def copy_rows(binding: JSON) -> list[tuple[str, str, str, str, str]]:
    """``(cluster, replicas, ready, health, applied)`` per chosen cluster, then per cluster being left.

    ``ready`` is ``readyReplicas/replicas wanted there``; a copy the sync engine has not reported yet shows
    ``pending``; a cluster in status but no longer chosen shows as ``(removing)``, since its copy is still
    there until the purge mode lets TMC delete it.
    """
    chosen = (binding.get("spec") or {}).get("clusters") or []
    copies = {c["name"]: c for c in (binding.get("status") or {}).get("clusters") or []}
    rows = []
    for assignment in chosen:
        name = assignment["name"]
        wanted = assignment.get("replicas")
        copy = copies.get(name)
        if copy is None:
            rows.append((name, _text(wanted), MISSING, "Unknown", "pending"))
            continue
        rows.append((name, _text(wanted), _ready(copy, wanted), str(copy.get("health") or "Unknown"), _applied(copy)))
    chosen_names = {a["name"] for a in chosen}
    for name, copy in sorted(copies.items()):
        if name not in chosen_names:
            rows.append((name, MISSING, _ready(copy, None), str(copy.get("health") or "Unknown"), "(removing)"))
    return rows


def _ready(copy: JSON, wanted: int | None) -> str:
    ready = copy.get("readyReplicas")
    if ready is None and wanted is None:
        return MISSING
    return f"{int(ready or 0)}/{wanted if wanted is not None else _text(copy.get('replicas'))}"


def _applied(copy: JSON) -> str:
    if copy.get("applied"):
        return "True"
    reason = copy.get("reason")
    return f"False ({reason})" if reason else "False"


def ready_summary(binding: JSON) -> tuple[int, int]:
    """Ready replicas over replicas wanted, summed over the chosen clusters."""
    chosen = (binding.get("spec") or {}).get("clusters") or []
    copies = {c["name"]: c for c in (binding.get("status") or {}).get("clusters") or []}
    wanted = sum(int(a.get("replicas") or 0) for a in chosen)
    ready = sum(int((copies.get(a["name"]) or {}).get("readyReplicas") or 0) for a in chosen)
    return ready, wanted


def workloads_table(bindings: Iterable[JSON], *, all_namespaces: bool = False) -> Table:
    headers = ("WORKLOAD", "PLACEMENT", "CLUSTER", "REPLICAS", "READY", "HEALTH", "APPLIED")
    table = new_table(*(("NAMESPACE", *headers) if all_namespaces else headers))
    for binding in sorted(bindings, key=_namespaced_key):
        lead: Sequence[str] = (
            *([binding["metadata"].get("namespace", "")] if all_namespaces else []),
            workload_name(binding),
            str((binding.get("spec") or {}).get("placement") or MISSING),
        )
        blank = ("",) * len(lead)
        rows = copy_rows(binding)
        if not rows:
            table.add_row(*lead, NONE, MISSING, MISSING, MISSING, condition_text(binding, "Applied"))
            continue
        for index, row in enumerate(rows):
            table.add_row(*(lead if index == 0 else blank), *row)
        if len(rows) > 1:
            ready, wanted = ready_summary(binding)
            table.add_row(*blank, "(total)", str(wanted), f"{ready}/{wanted}", "", condition_text(binding, "Applied"))
    return table


def _namespaced_key(obj: JSON) -> tuple[str, str]:
    return (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
