"""``kubectl get`` columns for the workload kinds, matched against what the apiserver itself prints.

A kube-apiserver renders built-in kinds as Tables with Go code (``pkg/printers``); kcp renders a
schema's ``additionalPrinterColumns``, each one JSONPath whose *first* match is printed. The generator
fetches the apiserver's column definitions (name, priority, description) and this table says, for each,
the JSONPath that shows the same thing or why none can. An apiserver column missing here, or a column
here the apiserver no longer prints, fails the generator: a Kubernetes upgrade that changes
``kubectl get`` output needs a decision, not a silent drift.

Computed cells (``Ready`` = ``readyReplicas/replicas``, a Job's ``Duration``) become the nearest single
field; list cells (``Containers``, ``Images``) show the first element, and their descriptions say so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

ColumnType = Literal["string", "integer", "number", "boolean", "date"]


@dataclass(frozen=True, slots=True)
class Column:
    """How one apiserver column is shown by kcp: a JSONPath, or ``json_path=None`` with the reason it is left out."""

    json_path: str | None
    type: ColumnType = "string"
    description: str | None = None  # None: the apiserver's own description
    omitted_because: str = ""


class ColumnMappingError(ValueError):
    """The apiserver's columns and :data:`COLUMNS` disagree."""


_FIRST = " (the first one: kcp prints one value per column)"
_AGE = Column(".metadata.creationTimestamp", "date", "Time since the object was created.")


def _containers(template_spec: str) -> dict[str, Column]:
    return {
        "Containers": Column(f"{template_spec}.containers[*].name", description="Container names" + _FIRST),
        "Images": Column(f"{template_spec}.containers[*].image", description="Container images" + _FIRST),
    }


COLUMNS: dict[str, dict[str, Column]] = {
    "Deployment": {
        "Ready": Column(".status.readyReplicas", "integer", "Ready pods (the cluster's kubectl shows ready/desired)."),
        "Up-to-date": Column(".status.updatedReplicas", "integer"),
        "Available": Column(".status.availableReplicas", "integer"),
        "Age": _AGE,
        **_containers(".spec.template.spec"),
        "Selector": Column(".spec.selector"),
    },
    "StatefulSet": {
        "Ready": Column(".status.readyReplicas", "integer", "Ready pods (the cluster's kubectl shows ready/desired)."),
        "Age": _AGE,
        **_containers(".spec.template.spec"),
    },
    "DaemonSet": {
        "Desired": Column(".status.desiredNumberScheduled", "integer"),
        "Current": Column(".status.currentNumberScheduled", "integer"),
        "Ready": Column(".status.numberReady", "integer"),
        "Up-to-date": Column(".status.updatedNumberScheduled", "integer"),
        "Available": Column(".status.numberAvailable", "integer"),
        "Node Selector": Column(".spec.template.spec.nodeSelector"),
        "Age": _AGE,
        **_containers(".spec.template.spec"),
        "Selector": Column(".spec.selector"),
    },
    "Job": {
        "Status": Column(
            '.status.conditions[?(@.status=="True")].type',
            description="Type of the first condition that is True (Complete, Failed, Suspended, ...).",
        ),
        "Completions": Column(
            ".status.succeeded", "integer", "Succeeded pods (the cluster's kubectl shows succeeded/completions)."
        ),
        "Duration": Column(None, omitted_because="computed from start and completion time; no single field holds it"),
        "Age": _AGE,
        **_containers(".spec.template.spec"),
        "Selector": Column(".spec.selector"),
    },
    "CronJob": {
        "Schedule": Column(".spec.schedule"),
        "Timezone": Column(".spec.timeZone"),
        "Suspend": Column(".spec.suspend", "boolean"),
        "Active": Column(None, omitted_because="the number of running Jobs is a list length; JSONPath cannot count"),
        "Last Schedule": Column(".status.lastScheduleTime", "date"),
        "Age": _AGE,
        **_containers(".spec.jobTemplate.spec.template.spec"),
        "Selector": Column(".spec.jobTemplate.spec.selector"),
    },
    "Service": {
        "Type": Column(".spec.type"),
        "Cluster-IP": Column(".spec.clusterIP"),
        "External-IP": Column(".status.loadBalancer.ingress[*].ip", description="Load-balancer ingress IP" + _FIRST),
        "Port(s)": Column(".spec.ports[*].port", "integer", "Service port" + _FIRST),
        "Age": _AGE,
        "Selector": Column(".spec.selector"),
    },
    "PersistentVolumeClaim": {
        "Status": Column(".status.phase"),
        "Volume": Column(".spec.volumeName"),
        "Capacity": Column(".status.capacity.storage"),
        "Access Modes": Column(".status.accessModes"),
        "StorageClass": Column(".spec.storageClassName"),
        "VolumeAttributesClass": Column(".spec.volumeAttributesClassName"),
        "Age": _AGE,
        "VolumeMode": Column(".spec.volumeMode"),
    },
    "Ingress": {
        "Class": Column(".spec.ingressClassName"),
        "Hosts": Column(".spec.rules[*].host", description="Host" + _FIRST),
        "Address": Column(".status.loadBalancer.ingress[*].ip", description="Load-balancer ingress IP" + _FIRST),
        "Ports": Column(None, omitted_because="80 or 80, 443 depending on spec.tls; JSONPath cannot branch"),
        "Age": _AGE,
    },
}
"""kind -> apiserver column name -> how kcp shows it. ``Name`` is implicit in kcp and not listed."""


def printer_columns(kind: str, server_columns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ``additionalPrinterColumns`` for ``kind`` from the apiserver's Table ``columnDefinitions``."""
    mapping = COLUMNS.get(kind)
    if mapping is None:
        raise ColumnMappingError(f"no column mapping for {kind}; add it to tmc.install.workload_columns.COLUMNS")
    names = [column["name"] for column in server_columns if column["name"] != "Name"]
    unknown = [name for name in names if name not in mapping]
    gone = [name for name in mapping if name not in names]
    if unknown or gone:
        raise ColumnMappingError(
            f"{kind}: the apiserver prints columns {names}; not mapped: {unknown}, no longer printed: {gone}"
            " (update tmc.install.workload_columns.COLUMNS)"
        )
    out: list[dict[str, Any]] = []
    for server in server_columns:
        if server["name"] == "Name":
            continue
        column = mapping[server["name"]]
        if column.json_path is None:
            continue
        entry: dict[str, Any] = {"name": server["name"], "type": column.type, "jsonPath": column.json_path}
        description = column.description if column.description is not None else server.get("description", "")
        if description:
            entry["description"] = description
        if server.get("priority"):
            entry["priority"] = server["priority"]
        out.append(entry)
    return out
