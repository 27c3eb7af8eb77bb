"""What the sync engine needs from cluster access (``tmc.clusters.ClusterDirectory`` provides it).

``ClusterClients`` is the seam: the engine asks "a client for registration R of logical cluster L" and gets a
pooled, long-lived client, or ``ClusterUnavailable`` with a reason the binding's status can show. Each cluster
has its own concurrency limit, so a slow or dead cluster holds back only its own work. Unit tests pass a fake.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from tmc.clusters import ClusterUnavailable
from tmc.kcp.paths import LogicalClusterPath
from tmc.kcp.rest import KubeClient

__all__ = ["ClusterClients", "ClusterUnavailable"]


class ClusterClients(Protocol):
    async def client_for(self, cluster: LogicalClusterPath, registration: str) -> KubeClient:
        """A shared client of the registration's cluster; raises ``ClusterUnavailable``."""
        ...

    def limiter(self, cluster: LogicalClusterPath, registration: str) -> asyncio.Semaphore:
        """Bounds concurrent requests to the registration's cluster."""
        ...
