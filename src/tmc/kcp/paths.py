"""Logical cluster paths (``root:org:ws``) and URL paths that address them.

kcp serves every workspace under ``/clusters/<path-or-cluster-name>``; the APIExport virtual workspace also
accepts the wildcard ``/clusters/*`` for one list/watch across every bound workspace.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tmc.errors import ConfigError

_SEGMENT = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
WILDCARD = "*"


@dataclass(frozen=True, slots=True, order=True)
class LogicalClusterPath:
    """A workspace path such as ``root:acme``, or a logical cluster name such as ``2x8pd3f5u6``."""

    value: str

    def __post_init__(self) -> None:
        if self.value == WILDCARD:
            return
        segments = self.value.split(":")
        if not all(_SEGMENT.match(segment) for segment in segments):
            raise ConfigError(
                f"workspace path {self.value!r} is invalid: use lowercase DNS labels joined by ':' (e.g. root:acme)"
            )

    @classmethod
    def parse(cls, value: str) -> LogicalClusterPath:
        return cls(value.strip())

    @property
    def parent(self) -> LogicalClusterPath | None:
        head, sep, _ = self.value.rpartition(":")
        return LogicalClusterPath(head) if sep else None

    @property
    def base_name(self) -> str:
        return self.value.rpartition(":")[2]

    def join(self, name: str) -> LogicalClusterPath:
        return LogicalClusterPath(f"{self.value}:{name}")

    @property
    def url_prefix(self) -> str:
        return f"/clusters/{self.value}"

    def __str__(self) -> str:
        return self.value


ROOT = LogicalClusterPath("root")
ALL_CLUSTERS = LogicalClusterPath(WILDCARD)


def base_url(server: str) -> str:
    """kcp's base URL from any workspace URL (``https://host:6443/clusters/root`` -> ``https://host:6443``)."""
    head, sep, _ = server.partition("/clusters/")
    return head if sep else server.rstrip("/")
