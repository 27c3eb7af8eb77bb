"""The heartbeat has its own connection: a pool full of our own work (watches, applies) is not a dead cluster."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from tmc.clusters import AddressPolicy, Endpoint, EndpointKey, ProbeSettings, cluster_client
from tmc.kcp.kubeconfig import ClusterAccess
from tmc.kcp.rest import KubeClient

from ._fakes import FixedLag, listening

LOOPBACK = AddressPolicy.parse(["127.0.0.0/8"])


class HoldingServer:
    """Loopback HTTP/1.1: ``GET /hold`` is never answered (a watch, or a slow apply); anything else is 200 ok."""

    def __init__(self) -> None:
        self.port = 0
        self.held = 0
        self.holding = asyncio.Condition()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                if head.startswith(b"GET /hold"):
                    async with self.holding:
                        self.held += 1
                        self.holding.notify_all()
                    await asyncio.Event().wait()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            return
        finally:
            writer.close()

    async def wait_held(self, count: int) -> None:
        async with self.holding:
            await self.holding.wait_for(lambda: self.held >= count)


@pytest.fixture
async def server() -> AsyncIterator[HoldingServer]:
    async with listening(HoldingServer()) as handler:
        yield handler


def endpoint(work: KubeClient, probe: KubeClient | None) -> Endpoint:
    return Endpoint(
        key=EndpointKey(str(work.access.server), "f" * 32),
        client=work,
        probe_client=probe,
        settings=ProbeSettings(heartbeat_period=10.0, probe_timeout=0.5, jitter=0.0),
        probe_slots=asyncio.Semaphore(1),
        lag=FixedLag(),
        on_change=lambda endpoint: None,
    )


@pytest.mark.parametrize("own_connection", [True, False], ids=["own connection", "shared pool"])
async def test_a_probe_is_answered_while_the_work_pool_is_full(server: HoldingServer, own_connection: bool) -> None:
    access = ClusterAccess(f"http://127.0.0.1:{server.port}")
    async with (
        cluster_client(access, LOOPBACK, max_connections=2) as work,
        cluster_client(access, LOOPBACK, max_connections=1) as probe,
    ):
        holds = [asyncio.create_task(work.get_raw("/hold")) for _ in range(2)]
        try:
            await asyncio.wait_for(server.wait_held(2), 5)
            heart = endpoint(work, probe if own_connection else None)
            await heart.probe_once()
        finally:
            for task in holds:
                task.cancel()
            for task in holds:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    assert heart.state is not None
    if own_connection:
        assert heart.state.liveness.ok, heart.state.liveness.message
    else:  # what the heartbeat measured before it had its own connection: the wait for our own pool
        assert heart.state.liveness.reason == "Timeout"
