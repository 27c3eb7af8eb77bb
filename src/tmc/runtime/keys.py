"""Object keys that name the logical cluster an object lives in.

A wildcard list through a kcp APIExport virtual workspace returns ``default/web`` from many workspaces at
once, so a key of namespace and name alone (client-go's ``MetaNamespaceKeyFunc``) would merge them. The
logical cluster comes from the ``kcp.io/cluster`` annotation kcp sets on every object; on a plain
Kubernetes API server the annotation is absent and the cluster is ``""``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tmc.kcp.paths import LogicalClusterPath

CLUSTER_ANNOTATION = "kcp.io/cluster"


@dataclass(frozen=True, slots=True, order=True)
class ObjectKey:
    """``cluster|namespace/name``; ``namespace`` is ``""`` for cluster-scoped objects."""

    cluster: str
    namespace: str
    name: str

    @classmethod
    def parse(cls, text: str) -> ObjectKey:
        """The inverse of ``str()``: ``c|ns/n``, or ``c|n`` if cluster-scoped (``c`` may be empty)."""
        cluster, _, rest = text.rpartition("|")
        namespace, _, name = rest.rpartition("/")
        return cls(cluster, namespace, name)

    @property
    def cluster_path(self) -> LogicalClusterPath | None:
        """The path to write this object back to (``None`` on a plain Kubernetes server)."""
        return LogicalClusterPath(self.cluster) if self.cluster else None

    def __str__(self) -> str:
        local = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.cluster}|{local}"


def cluster_of(obj: Mapping[str, Any]) -> str:
    annotations = obj.get("metadata", {}).get("annotations") or {}
    cluster: str = annotations.get(CLUSTER_ANNOTATION, "")
    return cluster


def key_of(obj: Mapping[str, Any]) -> ObjectKey:
    metadata = obj.get("metadata", {})
    return ObjectKey(cluster_of(obj), metadata.get("namespace") or "", metadata["name"])
