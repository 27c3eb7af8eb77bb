"""Fakes for runtime tests: manual timers, an in-memory list/watch API, an in-memory Lease API."""

from __future__ import annotations

import asyncio
import copy
import heapq
import itertools
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from tmc.errors import ConflictError, NotFoundError
from tmc.kcp.paths import LogicalClusterPath
from tmc.kcp.resources import Resource

JSON = dict[str, Any]


async def eventually(condition: Callable[[], bool], *, within: float = 1.0, what: str = "condition") -> None:
    """Wait (briefly) for something another task does; fails the test with ``what`` on timeout."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.002)


class FakeTimers:
    """A manual clock: ``call_later`` callbacks fire only when the test calls ``advance``."""

    class Handle:
        def __init__(self) -> None:
            self.cancelled = False

        def cancel(self) -> None:
            self.cancelled = True

    def __init__(self) -> None:
        self.now = 0.0
        self.delays: list[float] = []
        self._heap: list[tuple[float, int, Callable[[], None], FakeTimers.Handle]] = []
        self._seq = itertools.count()

    def clock(self) -> float:
        return self.now

    def call_later(self, delay: float, callback: Callable[[], None]) -> FakeTimers.Handle:
        handle = FakeTimers.Handle()
        self.delays.append(delay)
        heapq.heappush(self._heap, (self.now + delay, next(self._seq), callback, handle))
        return handle

    @property
    def pending(self) -> int:
        return sum(1 for *_, handle in self._heap if not handle.cancelled)

    def advance(self, seconds: float) -> None:
        target = self.now + seconds
        while self._heap and self._heap[0][0] <= target:
            when, _, callback, handle = heapq.heappop(self._heap)
            self.now = when
            if not handle.cancelled:
                callback()
        self.now = target


def configmap(name: str, rv: int, *, cluster: str = "", namespace: str = "default", data: str = "") -> JSON:
    metadata: JSON = {"name": name, "namespace": namespace, "resourceVersion": str(rv)}
    if cluster:
        metadata["annotations"] = {"kcp.io/cluster": cluster}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": {"v": data}}


CLOSE = "close"  # a watch script step: the server ends the stream normally


class FakeListWatch:
    """Serves LISTs from ``objects`` (paginated by offset) and WATCHes from scripts the test queues.

    A script is a list of steps: an event dict is yielded, an exception is raised, an ``asyncio.Event`` is
    waited for, ``CLOSE`` ends the stream. Once a script runs out (or none is queued) the watch hangs like
    a quiet server.
    """

    def __init__(self, objects: list[JSON] | None = None, resource_version: int = 100) -> None:
        self.objects: list[JSON] = list(objects or [])
        self.resource_version = resource_version
        self.list_calls: list[Mapping[str, str | int | bool]] = []
        self.watch_calls: list[str] = []
        self.scripts: deque[list[Any]] = deque()
        self.list_error: Exception | None = None

    async def request(self, method: str, path: str, *, params: Mapping[str, str | int | bool] | None = None) -> JSON:
        assert method == "GET"
        params = dict(params or {})
        self.list_calls.append(params)
        if self.list_error is not None:
            raise self.list_error
        limit = int(params.get("limit", 0)) or len(self.objects)
        offset = int(params.get("continue", 0))
        page = self.objects[offset : offset + limit]
        metadata: JSON = {"resourceVersion": str(self.resource_version)}
        if offset + limit < len(self.objects):
            metadata["continue"] = str(offset + limit)
        items = [copy.deepcopy(obj) for obj in page]
        for item in items:  # a real list omits these on items
            item.pop("apiVersion", None)
            item.pop("kind", None)
        return {"kind": "ConfigMapList", "metadata": metadata, "items": items}

    async def watch(
        self,
        path: str,
        *,
        resource_version: str,
        params: Mapping[str, str | int | bool] | None = None,
        timeout_seconds: int = 300,
    ) -> AsyncIterator[JSON]:
        self.watch_calls.append(resource_version)
        script = self.scripts.popleft() if self.scripts else []
        for step in script:
            if step == CLOSE:
                return
            if isinstance(step, BaseException):
                raise step
            if isinstance(step, asyncio.Event):
                await step.wait()
                continue
            await asyncio.sleep(0)
            yield step
        await asyncio.Event().wait()


class FakeLeaseApi:
    """An in-memory Lease store with the server's optimistic concurrency (409 on a stale resourceVersion)."""

    def __init__(self) -> None:
        self.leases: dict[tuple[str, str], JSON] = {}
        self._rv = itertools.count(1)
        self.fail_with: Exception | None = None
        self.before_replace: Callable[[], Awaitable[None]] | None = None

    async def get(
        self,
        resource: Resource,
        name: str,
        *,
        cluster: LogicalClusterPath | None = None,
        namespace: str | None = None,
    ) -> JSON:
        if self.fail_with is not None:
            raise self.fail_with
        try:
            return copy.deepcopy(self.leases[(namespace or "", name)])
        except KeyError:
            raise NotFoundError(404, "NotFound", f"lease {name} not found") from None

    async def create(
        self,
        resource: Resource,
        body: JSON,
        *,
        cluster: LogicalClusterPath | None = None,
        namespace: str | None = None,
    ) -> JSON:
        if self.fail_with is not None:
            raise self.fail_with
        key = (namespace or "", body["metadata"]["name"])
        if key in self.leases:
            raise ConflictError(409, "AlreadyExists", "lease exists")
        stored = copy.deepcopy(body)
        stored["metadata"]["resourceVersion"] = str(next(self._rv))
        self.leases[key] = stored
        return copy.deepcopy(stored)

    async def replace(
        self,
        resource: Resource,
        body: JSON,
        *,
        cluster: LogicalClusterPath | None = None,
    ) -> JSON:
        if self.fail_with is not None:
            raise self.fail_with
        if self.before_replace is not None:
            await self.before_replace()
        key = (body["metadata"].get("namespace") or "", body["metadata"]["name"])
        current = self.leases[key]
        if body["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
            raise ConflictError(409, "Conflict", "the object has been modified")
        stored = copy.deepcopy(body)
        stored["metadata"]["resourceVersion"] = str(next(self._rv))
        self.leases[key] = stored
        return copy.deepcopy(stored)

    def spec(self, name: str = "tmc", namespace: str = "kube-system") -> JSON:
        spec: JSON = self.leases[(namespace, name)]["spec"]
        return spec

    def put_holder(
        self, holder: str, renewed: datetime, *, name: str = "tmc", namespace: str = "kube-system", duration: int = 15
    ) -> None:
        """Another candidate writes the Lease (as if through the API, bumping its resourceVersion)."""
        lease = self.leases.get((namespace, name)) or {
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"leaseTransitions": 0},
        }
        lease["spec"].update(
            holderIdentity=holder, leaseDurationSeconds=duration, renewTime=renewed.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        )
        lease["metadata"]["resourceVersion"] = str(next(self._rv))
        self.leases[(namespace, name)] = lease


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2025, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
