"""Fakes for runtime tests: manual timers, an in-memory list/watch API, an in-memory Lease API."""

from __future__ import annotations

import asyncio
import copy
import heapq
import itertools
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import UTC, datetime
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


class ManualClock:
    """A ``tmc.runtime.clock.Clock`` that moves only when the test calls ``advance``.

    ``call_later`` callbacks fire during ``advance`` in deadline order; tasks they wake run once the test
    yields to the loop (``await settle()``).
    """

    class Handle:
        def __init__(self) -> None:
            self.cancelled = False

        def cancel(self) -> None:
            self.cancelled = True

    EPOCH = datetime(2025, 1, 1, tzinfo=UTC).timestamp()

    def __init__(self) -> None:
        self.now = 0.0
        self.delays: list[float] = []
        self._heap: list[tuple[float, int, Callable[[], None], ManualClock.Handle]] = []
        self._seq = itertools.count()

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return self.EPOCH + self.now

    def utc(self) -> datetime:
        return datetime.fromtimestamp(self.wall(), UTC)

    def call_later(self, delay: float, callback: Callable[[], None]) -> ManualClock.Handle:
        handle = ManualClock.Handle()
        self.delays.append(delay)
        heapq.heappush(self._heap, (self.now + max(delay, 0.0), next(self._seq), callback, handle))
        return handle

    @property
    def pending(self) -> int:
        return sum(1 for *_, handle in self._heap if not handle.cancelled)

    def advance(self, seconds: float) -> None:
        target = self.now + seconds
        while self._heap and self._heap[0][0] <= target:
            when, _, callback, handle = heapq.heappop(self._heap)
            self.now = max(self.now, when)
            if not handle.cancelled:
                callback()
        self.now = target

    async def run_for(self, seconds: float, step: float = 0.05) -> None:
        """Advance in small steps, letting woken tasks run (and schedule their next timers) in between."""
        end = self.now + seconds
        while self.now < end:
            self.advance(min(step, end - self.now))
            await settle()


async def settle(rounds: int = 20) -> None:
    """Let every task that can run without time passing run."""
    for _ in range(rounds):
        await asyncio.sleep(0)


def configmap(name: str, rv: int, *, cluster: str = "", namespace: str = "default", data: str = "") -> JSON:
    metadata: JSON = {"name": name, "namespace": namespace, "resourceVersion": str(rv)}
    if cluster:
        metadata["annotations"] = {"kcp.io/cluster": cluster}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": {"v": data}}


CLOSE = "close"  # a watch script step: the server ends the stream normally


class FakeListWatch:
    """Serves LISTs from ``objects`` (paginated by offset) and WATCHes from scripts the test queues.

    A script is a list of steps: an event dict is yielded, an exception is raised, an ``asyncio.Event`` is
    waited for, a float is slept (real seconds), ``CLOSE`` ends the stream. Once a script runs out (or none is
    queued) the watch hangs like a quiet server.
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
            if isinstance(step, float):
                await asyncio.sleep(step)
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


class FakeEndpointSet:
    """A ``tmc.runtime.informer.EndpointSet`` over ``FakeListWatch`` servers the test adds and removes."""

    def __init__(self, endpoints: Mapping[str, FakeListWatch] | None = None) -> None:
        self.clients: dict[str, FakeListWatch] = dict(endpoints or {})
        self.learned: dict[str, str] = {}
        self._listeners: list[Callable[[], None]] = []

    def endpoint_clients(self) -> Mapping[str, FakeListWatch]:
        return dict(self.clients)

    def subscribe(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def learn(self, cluster: str, endpoint: str) -> None:
        self.learned[cluster] = endpoint

    def set(self, endpoints: Mapping[str, FakeListWatch]) -> None:
        self.clients = dict(endpoints)
        for listener in self._listeners:
            listener()


class FakeStatusApi:
    """Objects with a status subresource: merge patches with resourceVersion preconditions, like the server.

    ``interfere`` (if set) runs once, before the next patch is applied: a test uses it to ``put`` a changed
    object under the writer's feet (another writer), which makes the precondition fail with 409.
    """

    def __init__(self, *objects: JSON) -> None:
        self.objects: dict[tuple[str, str, str], JSON] = {}
        self._rv = itertools.count(1)
        self.patches: list[tuple[str | None, JSON, str | None]] = []  # (cluster, patch, field manager)
        self.gets: list[str] = []
        self.interfere: Callable[[], None] | None = None
        for obj in objects:
            self.put(obj)

    @staticmethod
    def _key(cluster: str | None, namespace: str | None, name: str) -> tuple[str, str, str]:
        return (cluster or "", namespace or "", name)

    def put(self, obj: JSON) -> JSON:
        metadata = obj["metadata"]
        stored = copy.deepcopy(obj)
        stored["metadata"]["resourceVersion"] = str(next(self._rv))
        cluster = (metadata.get("annotations") or {}).get("kcp.io/cluster", "")
        self.objects[self._key(cluster, metadata.get("namespace"), metadata["name"])] = stored
        return copy.deepcopy(stored)

    async def get(
        self,
        resource: Resource,
        name: str,
        *,
        cluster: LogicalClusterPath | None = None,
        namespace: str | None = None,
    ) -> JSON:
        self.gets.append(name)
        try:
            return copy.deepcopy(self.objects[self._key(str(cluster) if cluster else None, namespace, name)])
        except KeyError:
            raise NotFoundError(404, "NotFound", f"{name} not found") from None

    async def merge_patch(
        self,
        resource: Resource,
        name: str,
        patch: JSON,
        *,
        cluster: LogicalClusterPath | None = None,
        namespace: str | None = None,
        subresource: str | None = None,
        field_manager: str | None = None,
    ) -> JSON:
        assert subresource == "status"
        key = self._key(str(cluster) if cluster else None, namespace, name)
        self.patches.append((str(cluster) if cluster else None, copy.deepcopy(patch), field_manager))
        if key not in self.objects:
            raise NotFoundError(404, "NotFound", f"{name} not found")
        if self.interfere is not None:
            interfere, self.interfere = self.interfere, None
            interfere()
        current = self.objects[key]
        if patch["metadata"]["resourceVersion"] != current["metadata"]["resourceVersion"]:
            raise ConflictError(409, "Conflict", "the object has been modified")
        updated = copy.deepcopy(current)
        updated["status"] = _merge(updated.get("status") or {}, patch["status"])
        return self.put(updated)


def _merge(target: JSON, patch: JSON) -> JSON:
    result = dict(target)
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = _merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result
