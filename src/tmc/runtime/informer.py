"""A cluster-aware informer: a local cache of one resource kept current by LIST + WATCH.

Written here because no Python library offers a client-go style informer whose cache is keyed by kcp
logical cluster: kopf and kubernetes_asyncio watch one cluster and key by namespace/name, which merges
same-named objects from different workspaces of a wildcard ``/clusters/*`` watch. Here the store is keyed
by ``ObjectKey`` (cluster from the ``kcp.io/cluster`` annotation, ``""`` on plain Kubernetes).

The loop, as client-go's reflector:

1. paginated LIST (``limit``/``continue``) into the store; ``has_synced`` is set after the first one;
2. WATCH from the list's resourceVersion with bookmarks; every event and BOOKMARK advances the last RV;
3. the server closing the watch (``timeoutSeconds``) re-opens it at the last RV;
4. ``410 Gone`` (or any other error the server answers a watch with) relists and emits synthetic
   add/update/delete events for the differences, so handlers never miss a change;
5. a transport error (server unreachable) re-opens the watch at the last RV after an exponential
   backoff, so an outage never turns into a tight loop.

A periodic resync calls ``on_update(obj, obj)`` for every cached object: a level-triggered safety net for
a reconcile that was dropped. Objects handed out are the cache's own dicts: treat them as read-only and
deep-copy before changing them.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from tmc.errors import GoneError
from tmc.kcp.paths import LogicalClusterPath
from tmc.kcp.resources import Resource
from tmc.kcp.rest import TransportError
from tmc.runtime.keys import ObjectKey, cluster_of, key_of
from tmc.runtime.metrics import RuntimeMetrics

log = logging.getLogger(__name__)

JSON = dict[str, Any]
AddFunc = Callable[[JSON], None]
UpdateFunc = Callable[[JSON, JSON], None]
DeleteFunc = Callable[[JSON], None]
IndexFunc = Callable[[JSON], Iterable[str]]

BY_CLUSTER = "cluster"
# A watch that ends sooner than this without delivering anything counts as a failure for the backoff.
_MIN_HEALTHY_WATCH_SECONDS = 1.0


class ListWatchClient(Protocol):
    """What the informer needs of ``tmc.kcp.rest.KubeClient`` (a fake in unit tests)."""

    async def request(
        self, method: str, path: str, *, params: Mapping[str, str | int | bool] | None = None
    ) -> JSON: ...

    def watch(
        self,
        path: str,
        *,
        resource_version: str,
        params: Mapping[str, str | int | bool] | None = None,
        timeout_seconds: int = 300,
    ) -> AsyncIterator[JSON]: ...


@dataclass(frozen=True, slots=True)
class EventHandler:
    on_add: AddFunc | None = None
    on_update: UpdateFunc | None = None
    on_delete: DeleteFunc | None = None

    @classmethod
    def enqueue(cls, enqueue: Callable[[ObjectKey], None]) -> EventHandler:
        """Enqueue the object's own key on every event (the common case)."""
        return cls(
            on_add=lambda obj: enqueue(key_of(obj)),
            on_update=lambda old, new: enqueue(key_of(new)),
            on_delete=lambda obj: enqueue(key_of(obj)),
        )


def by_cluster(obj: JSON) -> list[str]:
    return [cluster_of(obj)]


class _Backoff:
    def __init__(self, initial: float, cap: float) -> None:
        self.initial = initial
        self.cap = cap
        self._next = initial

    def next(self) -> float:
        delay = self._next
        self._next = min(self._next * 2, self.cap)
        return delay

    def reset(self) -> None:
        self._next = self.initial


class Informer:
    # ``Informer.list`` shadows the builtin in the class body, hence ``builtins.list`` in annotations below.

    def __init__(
        self,
        client: ListWatchClient,
        resource: Resource,
        *,
        cluster: LogicalClusterPath | None = None,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        page_size: int = 500,
        watch_timeout: int = 300,
        resync_period: float | None = 600.0,
        min_backoff: float = 0.2,
        max_backoff: float = 10.0,
        metrics: RuntimeMetrics | None = None,
    ) -> None:
        self.client = client
        self.resource = resource
        self.path = resource.path(cluster, namespace=namespace)
        self.name = f"{resource.plural}.{resource.group}" if resource.group else resource.plural
        self.page_size = page_size
        self.watch_timeout = watch_timeout
        self.resync_period = resync_period
        self.has_synced = asyncio.Event()
        self.resource_version: str | None = None  # last seen; None means "list next"
        self._selectors: dict[str, str | int | bool] = {}
        if label_selector:
            self._selectors["labelSelector"] = label_selector
        if field_selector:
            self._selectors["fieldSelector"] = field_selector
        self._min_backoff = min_backoff
        self._max_backoff = max_backoff
        metrics = metrics if metrics is not None else RuntimeMetrics()
        self._watch_restarts = metrics.informer_watch_restarts_total.labels(self.name)
        self._relists = metrics.informer_relists_total.labels(self.name)
        self._handlers: list[EventHandler] = []
        self._store: dict[ObjectKey, JSON] = {}
        self._index_funcs: dict[str, IndexFunc] = {}
        self._indices: dict[str, dict[str, set[ObjectKey]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._listed = False
        self.add_index(BY_CLUSTER, by_cluster)

    # -- configuration (before start) -----------------------------------------------------------------

    def add_handler(
        self,
        handler: EventHandler | None = None,
        *,
        on_add: AddFunc | None = None,
        on_update: UpdateFunc | None = None,
        on_delete: DeleteFunc | None = None,
    ) -> None:
        if self._task is not None:
            raise RuntimeError(f"informer {self.name}: register handlers before start()")
        self._handlers.append(handler or EventHandler(on_add, on_update, on_delete))

    def add_index(self, name: str, func: IndexFunc) -> None:
        """Index cached objects by ``func(obj)`` values; query with ``by_index(name, value)``."""
        if name in self._index_funcs:
            raise ValueError(f"informer {self.name}: index {name!r} already registered")
        self._index_funcs[name] = func
        self._indices[name] = {}
        for key, obj in self._store.items():
            self._index_one(name, key, obj)

    # -- reading the cache ----------------------------------------------------------------------------

    def get(self, key: ObjectKey) -> JSON | None:
        return self._store.get(key)

    def list(self, cluster: str | None = None) -> list[JSON]:
        if cluster is None:
            return [self._store[key] for key in sorted(self._store)]
        return self.by_index(BY_CLUSTER, cluster)

    def list_keys(self) -> builtins.list[ObjectKey]:
        return sorted(self._store)

    def by_index(self, name: str, value: str) -> builtins.list[JSON]:
        try:
            index = self._indices[name]
        except KeyError:
            raise KeyError(f"informer {self.name}: no index {name!r}; add_index() it first") from None
        return [self._store[key] for key in sorted(index.get(value, ()))]

    # -- running --------------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self._task is not None:
            raise RuntimeError(f"informer {self.name} already started")
        self._task = asyncio.create_task(self.run(), name=f"informer-{self.name}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None or task.done():
            return
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(self._list_watch_loop())
            if self.resync_period:
                group.create_task(self._resync_loop(self.resync_period))

    async def _list_watch_loop(self) -> None:
        backoff = _Backoff(self._min_backoff, self._max_backoff)
        loop = asyncio.get_running_loop()
        fresh_list = False
        while True:
            try:
                if self.resource_version is None:
                    if self._listed:
                        self._relists.inc()
                    self.resource_version = await self._list()
                    self._listed = fresh_list = True
                    self.has_synced.set()
                if not fresh_list:
                    self._watch_restarts.inc()
                fresh_list = False
                started = loop.time()
                delivered = await self._watch(self.resource_version)
                if delivered or loop.time() - started >= _MIN_HEALTHY_WATCH_SECONDS:
                    backoff.reset()
                    continue
                delay = backoff.next()
                log.warning("informer %s: watch closed at once without events; re-opening in %.1fs", self.name, delay)
            except GoneError as exc:
                delay = backoff.next()
                log.info(
                    "informer %s: resourceVersion %s expired (%s); relisting in %.1fs",
                    self.name,
                    self.resource_version,
                    exc.message,
                    delay,
                )
                self.resource_version = None
            except TransportError as exc:
                # Unreachable: keep the last RV; the watch resumes from it when the server is back.
                delay = backoff.next()
                log.warning("informer %s: %s; retrying in %.1fs", self.name, exc.message, delay)
            except Exception as exc:
                delay = backoff.next()
                if self.resource_version is not None:
                    log.warning("informer %s: watch failed (%s); relisting in %.1fs", self.name, exc, delay)
                    self.resource_version = None
                else:
                    log.warning("informer %s: list failed (%s); retrying in %.1fs", self.name, exc, delay)
            await asyncio.sleep(delay)

    async def _list(self) -> str:
        items: dict[ObjectKey, JSON] = {}
        params: dict[str, str | int | bool] = {**self._selectors, "limit": self.page_size}
        resource_version = ""
        while True:
            page = await self.client.request("GET", self.path, params=params)
            metadata = page.get("metadata") or {}
            for item in page.get("items") or []:
                # List items carry no apiVersion/kind; add them so listed and watched objects look alike.
                item.setdefault("apiVersion", self.resource.api_version)
                item.setdefault("kind", self.resource.kind)
                items[key_of(item)] = item
            resource_version = metadata.get("resourceVersion") or resource_version
            token = metadata.get("continue")
            if not token:
                break
            params["continue"] = token
        self._replace(items)
        log.debug("informer %s: listed %d objects at resourceVersion %s", self.name, len(items), resource_version)
        return resource_version

    async def _watch(self, resource_version: str) -> bool:
        """Apply watch events until the server closes the stream; True if any event arrived."""
        delivered = False
        events = self.client.watch(
            self.path,
            resource_version=resource_version,
            params=self._selectors,
            timeout_seconds=self.watch_timeout,
        )
        try:
            async for event in events:
                delivered = True
                self._apply(event)
        finally:
            aclose = getattr(events, "aclose", None)
            if aclose is not None:
                await aclose()
        return delivered

    def _apply(self, event: JSON) -> None:
        kind = event.get("type")
        obj: JSON = event.get("object") or {}
        resource_version = (obj.get("metadata") or {}).get("resourceVersion")
        if kind in ("ADDED", "MODIFIED"):
            key = key_of(obj)
            old = self._store.get(key)
            self._put(key, obj)
            if old is None:
                self._emit_add(obj)
            else:
                self._emit_update(old, obj)
        elif kind == "DELETED":
            key = key_of(obj)
            if self._pop(key) is not None:
                self._emit_delete(obj)
        elif kind != "BOOKMARK":
            log.warning("informer %s: ignoring watch event of type %r", self.name, kind)
        if resource_version:
            self.resource_version = resource_version

    def _replace(self, items: dict[ObjectKey, JSON]) -> None:
        """Make the store equal ``items``, emitting an event for every difference."""
        for key in [key for key in self._store if key not in items]:
            old = self._pop(key)
            if old is not None:
                self._emit_delete(old)
        for key, obj in items.items():
            old = self._store.get(key)
            self._put(key, obj)
            if old is None:
                self._emit_add(obj)
            elif _resource_version(old) != _resource_version(obj):
                self._emit_update(old, obj)

    async def _resync_loop(self, period: float) -> None:
        await self.has_synced.wait()
        while True:
            await asyncio.sleep(period)
            for obj in list(self._store.values()):
                self._emit_update(obj, obj)

    # -- store and indices ----------------------------------------------------------------------------

    def _put(self, key: ObjectKey, obj: JSON) -> None:
        old = self._store.get(key)
        if old is not None:
            self._unindex(key, old)
        self._store[key] = obj
        for name in self._index_funcs:
            self._index_one(name, key, obj)

    def _pop(self, key: ObjectKey) -> JSON | None:
        old = self._store.pop(key, None)
        if old is not None:
            self._unindex(key, old)
        return old

    def _index_one(self, name: str, key: ObjectKey, obj: JSON) -> None:
        index = self._indices[name]
        for value in self._index_values(name, obj):
            index.setdefault(value, set()).add(key)

    def _unindex(self, key: ObjectKey, obj: JSON) -> None:
        for name, index in self._indices.items():
            for value in self._index_values(name, obj):
                keys = index.get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del index[value]

    def _index_values(self, name: str, obj: JSON) -> builtins.list[str]:
        try:
            return list(self._index_funcs[name](obj))
        except Exception:
            log.exception("informer %s: index function %r failed", self.name, name)
            return []

    # -- handlers -------------------------------------------------------------------------------------

    def _emit_add(self, obj: JSON) -> None:
        for handler in self._handlers:
            if handler.on_add is not None:
                self._call(handler.on_add, obj)

    def _emit_update(self, old: JSON, new: JSON) -> None:
        for handler in self._handlers:
            if handler.on_update is not None:
                self._call(handler.on_update, old, new)

    def _emit_delete(self, obj: JSON) -> None:
        for handler in self._handlers:
            if handler.on_delete is not None:
                self._call(handler.on_delete, obj)

    def _call(self, func: Callable[..., None], *args: JSON) -> None:
        try:
            func(*args)
        except Exception:
            log.exception("informer %s: event handler failed", self.name)


def _resource_version(obj: JSON) -> str | None:
    version: str | None = (obj.get("metadata") or {}).get("resourceVersion")
    return version
