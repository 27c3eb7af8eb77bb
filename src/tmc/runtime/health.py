"""``/metrics``, ``/healthz`` and ``/readyz`` on one small asyncio HTTP server.

Hand-written on ``asyncio.start_server`` because prometheus-client's own server runs in a thread and serves
only metrics, and a web framework would be a heavy dependency for three GET endpoints.

- ``/healthz``: 200 whenever the event loop answers at all (a stuck loop fails the probe by timing out).
- ``/readyz``: 200 while ``ready()`` is true, else 503. ``ready`` may return ``(ok, detail)``: the detail is the
  503 body, and the 200 body with ``?verbose``. The Manager's readiness covers the watches of every informer,
  for the leader *and* for standbys (``manager.py`` says why). Nothing routes traffic to a controller, so
  readiness means "this replica is working correctly", not "this replica is the leader".
- ``/metrics``: the Prometheus text format of the given registry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, disable_created_metrics, generate_latest

log = logging.getLogger(__name__)

_MAX_HEADER_LINES = 100
_READ_TIMEOUT = 10.0
_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    503: "Service Unavailable",
}


class HealthServer:
    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        ready: Callable[[], bool | tuple[bool, str]],
        host: str = "127.0.0.1",
        port: int = 8080,
    ) -> None:
        self.registry = registry
        self.ready = ready
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        # The text format has no notion of a counter's creation time: prometheus-client would publish each one
        # as an extra `<name>_created` gauge family, doubling the series every scrape stores for no reader.
        disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped in prometheus-client 0.26
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]  # the real port when asked for 0
        log.info("health server listening on http://%s:%d", self.host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> HealthServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            status, content_type, body = await asyncio.wait_for(self._handle(reader), _READ_TIMEOUT)
            reason = _REASONS.get(status, "")
            head = (
                f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n"
            )
            if status == 405:
                head += "Allow: GET\r\n"
            writer.write(head.encode() + b"\r\n" + body)
            await writer.drain()
        except (TimeoutError, ConnectionError, ValueError):  # slow, vanished or oversized requests
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader) -> tuple[int, str, bytes]:
        request_line = (await reader.readline()).decode("latin-1").strip()
        for _ in range(_MAX_HEADER_LINES):
            if (await reader.readline()) in (b"\r\n", b"\n", b""):
                break
        parts = request_line.split()
        if len(parts) != 3:
            return 400, "text/plain", b"bad request\n"
        method, target, _ = parts
        if method != "GET":
            return 405, "text/plain", b"only GET\n"
        path, _, query = target.partition("?")
        if path == "/healthz":
            return 200, "text/plain", b"ok\n"
        if path == "/readyz":
            answer = self.ready()
            ok, detail = answer if isinstance(answer, tuple) else (answer, "")
            if ok:
                verbose = "verbose" in query.split("&") and detail
                return 200, "text/plain", (f"ok\n{detail}\n" if verbose else "ok\n").encode()
            return 503, "text/plain", f"not ready\n{detail or 'informers have not synced'}\n".encode()
        if path == "/metrics":
            return 200, CONTENT_TYPE_LATEST, generate_latest(self.registry)
        return 404, "text/plain", b"not found\n"
