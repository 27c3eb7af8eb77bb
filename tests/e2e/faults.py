"""Fault injection for the e2e fault tests: a loopback TCP proxy and an HTTP transport that fails kcp writes.

``TcpProxy`` sits between TMC and one physical cluster's kube-apiserver (the registration's kubeconfig names the
proxy's port; TLS passes through untouched, and the server certificate names 127.0.0.1, so it still verifies).
Its faults can be switched while connections are open:

- ``latency``: every chunk, in each direction, is held that many seconds before it is passed on (order kept;
  throughput is not limited, so it plays a far-away or overloaded cluster, not a thin pipe);
- ``drop()``: every open connection is closed now; with ``refuse`` set, new ones are closed at once too.

``FlakyTransport`` wraps httpx's transport to kcp (``ControllerOptions.kcp_transport``): a seeded fraction of
the requests it selects (status writes) fail in one of four ways, two of them after kcp has applied the write:
503 before forwarding, connection closed before forwarding, 500 after forwarding, connection reset after
forwarding. kcp's virtual workspace URL comes from its APIExportEndpointSlice, so a proxy in front of kcp
would not see the writes that go there; the transport sees every request of the controller's pools.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections import Counter
from collections.abc import Callable

import httpx

FAULTS = ("503-before", "close-before", "500-after", "reset-after")


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.latency = 0.0
        self.refuse = False
        self.port = 0
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accepted, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        self.drop()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    def drop(self) -> None:
        """Close every open connection (both sides) now."""
        for writer in list(self._open):
            writer.transport.abort()
        self._open.clear()

    async def _accepted(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        if self.refuse:
            client_writer.transport.abort()
            return
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.transport.abort()
            return
        self._open |= {client_writer, server_writer}
        pumps = [
            asyncio.create_task(self._pump(client_reader, server_writer)),
            asyncio.create_task(self._pump(server_reader, client_writer)),
        ]
        self._tasks.update(pumps)
        try:
            await asyncio.gather(*pumps, return_exceptions=True)
        finally:
            self._tasks.difference_update(pumps)
            for writer in (client_writer, server_writer):
                self._open.discard(writer)
                writer.transport.abort()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Reads as fast as the sender sends; each chunk is written ``latency`` seconds after it arrived."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                if not data:
                    with contextlib.suppress(OSError):
                        writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()

        delivering = asyncio.create_task(deliver())
        try:
            while True:
                data = await reader.read(65536)
                queue.put_nowait((loop.time() + self.latency, data))
                if not data:
                    break
            await delivering
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            delivering.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await delivering
            # One side gone: the other cannot continue either.
            writer.transport.abort()


def is_status_write(request: httpx.Request) -> bool:
    return request.method in ("PATCH", "PUT") and request.url.path.endswith("/status")


class FlakyTransport(httpx.AsyncBaseTransport):
    """Fails ``rate`` of the requests ``select`` picks (seeded); counts what it did in ``injected``."""

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        *,
        rate: float,
        seed: int,
        select: Callable[[httpx.Request], bool] = is_status_write,
    ) -> None:
        self.inner = inner
        self.rate = rate
        self.enabled = True
        self.select = select
        self.injected: Counter[str] = Counter()
        self.selected = 0
        self._rng = random.Random(seed)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not (self.enabled and self.select(request)):
            return await self.inner.handle_async_request(request)
        self.selected += 1
        if self._rng.random() >= self.rate:
            return await self.inner.handle_async_request(request)
        fault = self._rng.choice(FAULTS)
        self.injected[fault] += 1
        if fault == "503-before":
            return _status_response(503, "ServiceUnavailable", "injected: kcp is not answering writes")
        if fault == "close-before":
            raise httpx.RemoteProtocolError("injected: server disconnected without sending a response", request=request)
        response = await self.inner.handle_async_request(request)
        await response.aread()  # kcp has applied the write (or refused it); the client never learns which
        await response.aclose()
        if fault == "500-after":
            return _status_response(500, "InternalError", "injected: an error on the way back")
        raise httpx.ReadError("injected: connection reset by peer", request=request)

    async def aclose(self) -> None:
        """Shared by every pool of the controller (see ``ControllerOptions.kcp_transport``): closed by its owner
        with ``close``, never by a pool."""

    async def close(self) -> None:
        await self.inner.aclose()


def _status_response(code: int, reason: str, message: str) -> httpx.Response:
    body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code, "reason": reason}
    return httpx.Response(code, content=json.dumps({**body, "message": message}).encode())
