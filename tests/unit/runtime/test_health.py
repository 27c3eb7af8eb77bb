"""The health server answers /healthz, /readyz and /metrics, and nothing else."""

from __future__ import annotations

import asyncio

from tmc.runtime import HealthServer, RuntimeMetrics


async def call(port: int, method: str, path: str) -> tuple[int, dict[str, str], str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"{method} {path} HTTP/1.1\r\nHost: test\r\nContent-Length: 0\r\n\r\n".encode())
    await writer.drain()
    raw = await asyncio.wait_for(reader.read(), 1)  # the server closes the connection after one answer
    writer.close()
    await writer.wait_closed()
    head, _, body = raw.decode().partition("\r\n\r\n")
    status_line, *header_lines = head.split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in header_lines)}
    assert int(headers["content-length"]) == len(body.encode())
    return int(status_line.split()[1]), headers, body


async def test_health_readiness_and_metrics_endpoints() -> None:
    metrics = RuntimeMetrics()
    metrics.reconcile_total.labels("things", "success").inc(3)
    ready = False
    async with HealthServer(metrics.registry, ready=lambda: ready, port=0) as server:
        assert (await call(server.port, "GET", "/healthz"))[0] == 200
        assert (await call(server.port, "GET", "/readyz"))[0] == 503
        ready = True
        assert (await call(server.port, "GET", "/readyz?verbose"))[0] == 200
        status, headers, body = await call(server.port, "GET", "/metrics")
        assert status == 200
        assert headers["content-type"].startswith("text/plain")
        assert 'tmc_reconcile_total{controller="things",result="success"} 3.0' in body
        assert (await call(server.port, "GET", "/nope"))[0] == 404
        status, headers, _ = await call(server.port, "POST", "/healthz")
        assert status == 405
        assert headers["allow"] == "GET"
