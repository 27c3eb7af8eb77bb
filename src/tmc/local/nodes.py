"""The shape of a local cluster's fake nodes, and the Node objects kwok is asked to run.

kwok manages Nodes that carry its annotation: it keeps their conditions and Lease fresh (the heartbeat Stage)
and moves Pods bound to them to Running and Ready. The harness creates the Nodes itself, with the allocatable
capacity the test or ``tmc up`` asked for, so clusters of different sizes are one argument away.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tmc.api.quantity import parse_bytes, parse_cpu_millis

KWOK_ANNOTATION = "kwok.x-k8s.io/node"
KWOK_ANNOTATION_VALUE = "fake"
REGION_LABEL = "topology.kubernetes.io/region"
ZONE_LABEL = "topology.kubernetes.io/zone"


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """``count`` identical nodes; quantities use Kubernetes notation and are checked when the spec is made."""

    count: int = 2
    cpu: str = "4"
    memory: str = "16Gi"
    pods: int = 110
    labels: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.count < 0:
            raise ValueError(f"nodes.count must be >= 0, got {self.count}")
        if self.pods < 1:
            raise ValueError(f"nodes.pods must be >= 1, got {self.pods}")
        for name, parse, value in (("cpu", parse_cpu_millis, self.cpu), ("memory", parse_bytes, self.memory)):
            try:
                parsed = parse(value)
            except ValueError as exc:
                raise ValueError(f"nodes.{name}: {exc}") from None
            if parsed <= 0:
                raise ValueError(f"nodes.{name} must be positive, got {value!r}")

    @classmethod
    def in_region(cls, region: str, zone: str | None = None, **shape: Any) -> NodeSpec:
        labels = {REGION_LABEL: region, ZONE_LABEL: zone or f"{region}-a", **shape.pop("labels", {})}
        return cls(labels=labels, **shape)

    def manifests(self, cluster_name: str) -> list[dict[str, Any]]:
        return [self._node(f"{cluster_name}-node-{index}") for index in range(self.count)]

    def _node(self, name: str) -> dict[str, Any]:
        resources = {"cpu": self.cpu, "memory": self.memory, "pods": str(self.pods)}
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": name,
                "annotations": {KWOK_ANNOTATION: KWOK_ANNOTATION_VALUE, "node.alpha.kubernetes.io/ttl": "0"},
                "labels": {
                    "type": "kwok",
                    "kubernetes.io/hostname": name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                    "node-role.kubernetes.io/agent": "",
                    **self.labels,
                },
            },
            "spec": {},
            "status": {
                "allocatable": resources,
                "capacity": resources,
                "nodeInfo": {
                    "architecture": "amd64",
                    "operatingSystem": "linux",
                    "kubeletVersion": "kwok",
                    "kubeProxyVersion": "kwok",
                },
            },
        }


def parse_cluster_option(value: str) -> tuple[str, NodeSpec]:
    """``NAME=REGION:NODES[:CPU[:MEMORY]]`` (``tmc up --cluster``) into a cluster name and its node spec."""
    name, sep, shape = value.partition("=")
    if not sep or not name:
        raise ValueError(f"{value!r}: expected NAME=REGION:NODES[:CPU[:MEMORY]]")
    parts = shape.split(":")
    if not 2 <= len(parts) <= 4 or not parts[0]:
        raise ValueError(f"{value!r}: expected NAME=REGION:NODES[:CPU[:MEMORY]]")
    region, count, *rest = parts
    if not count.isdigit():
        raise ValueError(f"{value!r}: NODES must be a whole number, got {count!r}")
    shape_args: dict[str, Any] = {"count": int(count)}
    if rest:
        shape_args["cpu"] = rest[0]
    if len(rest) > 1:
        shape_args["memory"] = rest[1]
    return name, NodeSpec.in_region(region, **shape_args)
