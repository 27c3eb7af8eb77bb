"""The embedded default: one kcp and N physical clusters on loopback, under one state directory."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from tmc.local.kcp_server import KcpServer
from tmc.local.physical_cluster import PhysicalCluster


@dataclass
class LocalEnvironment:
    state_dir: Path
    cluster_names: tuple[str, ...] = ("us-west-1", "us-east-1")
    kcp: KcpServer = field(init=False)
    clusters: dict[str, PhysicalCluster] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.kcp = KcpServer(self.state_dir / "kcp")
        self.clusters = {name: PhysicalCluster(name, self.state_dir / "clusters" / name) for name in self.cluster_names}

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
