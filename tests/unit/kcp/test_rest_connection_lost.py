"""A connection lost the way httpcore's HTTP/2 code reports it when kcp goes away mid-response (a ValueError from
its stream semaphore) is a dropped connection to callers: a GET is sent again, a POST is a TransportError; before,
the ValueError escaped and ended the leader elector, and with it the whole controller process (kcp restart e2e)."""

from __future__ import annotations

import httpx
import pytest

from tmc.kcp.kubeconfig import ClusterAccess
from tmc.kcp.rest import KubeClient, TransportError


class LosingOnce:
    """Fails the first request the way httpcore 1.0's HTTP/2 connection does, answers the next ones."""

    def __init__(self) -> None:
        self.requests = 0

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if self.requests == 1:
            raise ValueError("semaphore released too many times")
        return httpx.Response(200, json={"kind": "Status"})


async def test_a_get_whose_connection_was_lost_is_sent_again() -> None:
    server = LosingOnce()
    async with KubeClient(ClusterAccess("https://kcp.test"), transport=httpx.MockTransport(server.handle)) as client:
        assert await client.request("GET", "/version") == {"kind": "Status"}
    assert server.requests == 2


async def test_a_post_whose_connection_was_lost_is_an_unreachable_server_not_a_crash() -> None:
    server = LosingOnce()
    async with KubeClient(ClusterAccess("https://kcp.test"), transport=httpx.MockTransport(server.handle)) as client:
        with pytest.raises(TransportError) as lost:
            await client.request("POST", "/api/v1/namespaces", body={})
    assert lost.value.reason == "Unreachable"
    assert "HTTP/2 connection lost" in lost.value.message
    assert server.requests == 1, "a POST is never repeated blindly"


async def test_a_health_check_whose_connection_was_lost_is_an_unreachable_server_not_a_crash() -> None:
    server = LosingOnce()
    async with KubeClient(ClusterAccess("https://kcp.test"), transport=httpx.MockTransport(server.handle)) as client:
        with pytest.raises(TransportError) as lost:
            await client.get_raw("/readyz")
    assert lost.value.reason == "Unreachable"
