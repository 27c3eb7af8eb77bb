"""A scripted physical cluster (an httpx mock transport) and endpoints built on it, on a manual clock."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol, TypeVar

import httpx

from tmc.clusters import Endpoint, EndpointKey, ProbeSettings
from tmc.clusters.lag import LoopLag
from tmc.kcp.kubeconfig import ClusterAccess
from tmc.kcp.rest import KubeClient

JSON = dict[str, Any]


def discovery(*names: str) -> JSON:
    return {"resources": [{"name": name} for name in names]}


class FakeCluster:
    """Answers like a kube-apiserver; tests change ``readyz`` / ``answers`` / ``fail_with`` between probes."""

    def __init__(self) -> None:
        self.readyz: tuple[int, str] = (200, "ok")
        self.fail_with: Exception | None = None
        self.answers: dict[str, JSON] = {
            "/version": {"gitVersion": "v1.36.3"},
            "/api/v1": discovery("pods", "persistentvolumeclaims", "pods/status"),
            "/apis/apps/v1": discovery("deployments"),
            "/apis/batch/v1": discovery("jobs"),
            "/apis/networking.k8s.io/v1": discovery("ingresses"),
            "/apis/storage.k8s.io/v1": discovery("storageclasses"),
            "/api/v1/nodes": {
                "metadata": {},
                "items": [{"status": {"allocatable": {"cpu": "4", "memory": "8Gi"}}} for _ in range(2)],
            },
        }
        self.requests: Counter[str] = Counter()
        self.hang: set[str] = set()

    async def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.requests[path] += 1
        if self.fail_with is not None:
            raise self.fail_with
        if path in self.hang:
            await asyncio.Event().wait()  # never answers; the caller's deadline ends it
        if path == "/readyz":
            return httpx.Response(self.readyz[0], text=self.readyz[1])
        if path in self.answers:
            return httpx.Response(200, content=json.dumps(self.answers[path]).encode())
        return httpx.Response(404, json={"kind": "Status", "code": 404, "reason": "NotFound", "message": "nope"})

    def client(self, access: ClusterAccess | None = None) -> KubeClient:
        return KubeClient(
            access or ClusterAccess("https://cluster.example"), transport=httpx.MockTransport(self.handle)
        )


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.wall_now = 1_750_000_000.0

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return self.wall_now

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.wall_now += seconds


class FixedLag(LoopLag):
    def __init__(self) -> None:
        super().__init__()
        self.lost = 0.0

    def lost_since(self, since: float) -> float:
        return self.lost


def endpoint(
    cluster: FakeCluster,
    clock: ManualClock,
    *,
    settings: ProbeSettings | None = None,
    lag: LoopLag | None = None,
    on_change: Callable[[Endpoint], None] = lambda endpoint: None,
) -> Endpoint:
    made = Endpoint(
        key=EndpointKey("https://cluster.example", "f" * 32),
        client=cluster.client(),
        settings=settings or ProbeSettings(heartbeat_period=10.0, facts_period=300.0, jitter=0.0),
        probe_slots=asyncio.Semaphore(4),
        lag=lag or FixedLag(),
        on_change=on_change,
        wall=clock.wall,
        monotonic=clock.monotonic,
    )
    made.created, made.created_wall = clock.monotonic(), clock.wall()
    return made


class Feed:
    """A list/watch API for an ``Informer``: LIST serves ``objects``, WATCH yields what the test ``put``s."""

    def __init__(self, objects: list[JSON]) -> None:
        self.objects = objects
        self.events: asyncio.Queue[JSON] = asyncio.Queue()

    async def request(self, method: str, path: str, *, params: Any = None) -> JSON:
        return {"metadata": {"resourceVersion": "1"}, "items": [json.loads(json.dumps(o)) for o in self.objects]}

    async def watch(
        self, path: str, *, resource_version: str, params: Any = None, timeout_seconds: int = 300
    ) -> AsyncIterator[JSON]:
        while True:
            yield await self.events.get()

    def put(self, kind: str, obj: JSON) -> None:
        self.events.put_nowait({"type": kind, "object": obj})


class LoopbackHandler(Protocol):
    port: int

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None: ...


H = TypeVar("H", bound=LoopbackHandler)


@contextlib.asynccontextmanager
async def listening(handler: H) -> AsyncIterator[H]:
    """``handler`` serving connections on a free loopback port (its ``port``) until the block ends."""
    listener = await asyncio.start_server(handler.handle, "127.0.0.1", 0)
    handler.port = listener.sockets[0].getsockname()[1]
    async with listener:
        yield handler
