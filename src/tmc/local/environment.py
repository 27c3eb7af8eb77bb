"""The embedded default: one kcp and N live physical clusters on loopback, under one state directory."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from tmc.local.kcp_server import KcpServer
from tmc.local.nodes import NodeSpec
from tmc.local.physical_cluster import PhysicalCluster

# Three clusters in two regions and of different sizes: the seed's Spread over region us-west splits replicas
# unevenly by capacity, and losing one us-west cluster shows a failover.
DEFAULT_CLUSTERS: Mapping[str, NodeSpec] = {
    "us-west-1": NodeSpec.in_region("us-west", "us-west-1a", count=2, cpu="4", memory="16Gi"),
    "us-west-2": NodeSpec.in_region("us-west", "us-west-2a", count=4, cpu="8", memory="32Gi"),
    "eu-central-1": NodeSpec.in_region("eu-central", "eu-central-1a", count=3, cpu="4", memory="16Gi"),
}


@dataclass
class LocalEnvironment:
    state_dir: Path
    cluster_specs: Mapping[str, NodeSpec] = field(default_factory=lambda: dict(DEFAULT_CLUSTERS))
    kcp: KcpServer = field(init=False)
    clusters: dict[str, PhysicalCluster] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.kcp = KcpServer(self.state_dir / "kcp")
        self.clusters = {
            name: PhysicalCluster(name, self.state_dir / "clusters" / name, nodes=nodes)
            for name, nodes in self.cluster_specs.items()
        }

    async def start(self) -> None:
        try:
            # kcp takes longest to come up; the clusters start alongside it.
            await asyncio.gather(self.kcp.start(), *(cluster.start() for cluster in self.clusters.values()))
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        results = await asyncio.gather(
            self.kcp.stop(), *(cluster.stop() for cluster in self.clusters.values()), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def __aenter__(self) -> LocalEnvironment:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        with contextlib.suppress(Exception):
            await self.stop()
