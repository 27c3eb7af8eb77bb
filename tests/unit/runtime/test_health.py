"""The health server answers /healthz, /readyz and /metrics, and nothing else."""

from __future__ import annotations

import httpx

from tmc.runtime import HealthServer, RuntimeMetrics


async def test_health_readiness_and_metrics_endpoints() -> None:
    metrics = RuntimeMetrics()
    metrics.reconcile_total.labels("things", "success").inc(3)
    ready = False
    async with HealthServer(metrics.registry, ready=lambda: ready, port=0) as server, httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{server.port}"
    ) as http:
        assert (await http.get("/healthz")).status_code == 200
        assert (await http.get("/readyz")).status_code == 503
        ready = True
        assert (await http.get("/readyz?verbose")).status_code == 200
        response = await http.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        assert 'tmc_reconcile_total{controller="things",result="success"} 3.0' in response.text
        assert (await http.get("/nope")).status_code == 404
        refused = await http.post("/healthz")
        assert refused.status_code == 405
        assert refused.headers["allow"] == "GET"
