"""A cluster-aware informer: a local cache of one resource kept current by LIST + WATCH.

Written here because no Python library offers a client-go style informer whose cache is keyed by kcp
logical cluster: kopf and kubernetes_asyncio watch one cluster and key by namespace/name, which merges
same-named objects from different workspaces of a wildcard ``/clusters/*`` watch. Here the store is keyed
by ``ObjectKey`` (cluster from the ``kcp.io/cluster`` annotation, ``""`` on plain Kubernetes).

**Several endpoints, one cache.** On a sharded kcp an APIExport's virtual workspace has one URL per shard, each
serving only its shard's workspaces. Given an ``EndpointSet`` (``tmc.kcp.virtual_workspace.VirtualWorkspaceClient``)
instead of one client, the informer runs one list/watch loop (a *source*) per URL into the same store, starts
and stops sources as URLs come and go, and tells the set which URL serves which logical cluster (so writes can
be routed there). Each source has its own resourceVersion, backoff and health; a relist of one source diffs
only the objects that came from it; a removed source's objects are deleted from the cache (with delete events),
because that endpoint no longer serves them. Logical cluster names are unique across shards, so keys of
different sources never collide. An object of one source may be seen before another informer's source for the
same URL has listed; reconcilers are level-triggered and already tolerate that order (watch events of
different resources are never ordered either).

The loop of one source, as client-go's reflector:

1. paginated LIST (``limit``/``continue``) into the store; ``has_synced`` is set once every source has listed;
2. WATCH from the list's resourceVersion with bookmarks; every event and BOOKMARK advances the last RV;
3. the server closing the watch (``timeoutSeconds``) re-opens it at the last RV;
4. a watch silent for longer than ``watch_silence_timeout`` (no event, no bookmark, not even the close the
   server promised by ``timeoutSeconds``: a half-open connection) is abandoned, counted and re-opened;
5. ``410 Gone`` or another error status the server answers relists and emits synthetic add/update/delete
   events for the differences, so handlers never miss a change;
6. a transport error (server unreachable) re-opens the watch at the last RV after a jittered exponential
   backoff (``tmc.runtime.backoff``), so an outage never becomes a tight loop nor a reconnect stampede;
7. anything else (a bug, a malformed event) is logged with its traceback and counted
   (``tmc_informer_errors_total``), then the source relists: loud, never a silent relist.

**The by-cluster index is the tenant isolation boundary.** An object is in the cache only if every index
accepted it: an index function that raises keeps the object (or its new version) out of the cache, logs the
traceback, counts ``tmc_informer_index_errors_total`` and makes ``health()`` (hence ``/readyz``) fail naming the
object, until a later version or a delete of it succeeds. On a wildcard (``/clusters/*``) informer an object
without a ``kcp.io/cluster`` annotation is such a failure, never filed under cluster ``""``.

Handlers that raise are logged with their traceback and counted (``tmc_informer_handler_errors_total``); the
other handlers and the informer go on. A periodic resync calls ``on_update(obj, obj)`` for every cached
object: a level-triggered safety net for a reconcile that was dropped. Objects handed out are the cache's own
dicts: treat them as read-only and deep-copy before changing them.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from tmc.errors import ApiError, GoneError
from tmc.kcp.paths import WILDCARD, LogicalClusterPath
from tmc.kcp.resources import Resource
from tmc.kcp.rest import TransportError
from tmc.runtime.backoff import ExponentialBackoff
from tmc.runtime.clock import SYSTEM_CLOCK, Clock, Deadline, sleep
from tmc.runtime.keys import CLUSTER_ANNOTATION, ObjectKey, cluster_of, key_of
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
# How long after the server's promised close (``timeoutSeconds``) a silent watch is declared stalled.
_WATCH_CLOSE_SLACK = 30.0


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


@runtime_checkable
class EndpointSet(Protocol):
    """Several servers that together serve one resource (kcp: one virtual workspace URL per shard)."""

    def endpoint_clients(self) -> Mapping[str, ListWatchClient]:
        """The current endpoints by id (URL), each with its own client."""
        ...

    def subscribe(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` (synchronously) after the set of endpoints changed."""
        ...

    def learn(self, cluster: str, endpoint: str) -> None:
        """``endpoint`` served an object of logical cluster ``cluster``."""
        ...


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


def by_cluster_strict(obj: JSON) -> list[str]:
    """The by-cluster index of a wildcard informer: an object must name its logical cluster."""
    cluster = cluster_of(obj)
    if not cluster:
        raise ValueError(f"object has no {CLUSTER_ANNOTATION} annotation; refusing to file it under no cluster")
    return [cluster]


class WatchStalledError(Exception):
    """Nothing arrived on a watch within the silence bound."""


class _Source:
    """One endpoint's list/watch loop state."""

    def __init__(self, endpoint: str, client: ListWatchClient) -> None:
        self.endpoint = endpoint
        self.client = client
        self.task: asyncio.Task[None] | None = None
        self.resource_version: str | None = None  # last seen; None means "list next"
        self.listed = False
        self.failing_since: float | None = None
        self.last_error = ""

    @property
    def label(self) -> str:
        return self.endpoint or "server"


class Informer:
    # ``Informer.list`` shadows the builtin in the class body, hence ``builtins.list`` in annotations below.

    def __init__(
        self,
        client: ListWatchClient | EndpointSet,
        resource: Resource,
        *,
        cluster: LogicalClusterPath | None = None,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        page_size: int = 500,
        watch_timeout: int = 120,
        watch_silence_timeout: float | None = None,
        resync_period: float | None = 600.0,
        min_backoff: float = 0.2,
        max_backoff: float = 10.0,
        unhealthy_after: float = 30.0,
        metrics: RuntimeMetrics | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        """``watch_silence_timeout`` defaults to ``watch_timeout`` + 30 s: the server promised to close by then.

        ``unhealthy_after``: how long a source may fail (unreachable, erroring) before ``health()`` says so.
        """
        self.client = client
        self.resource = resource
        self.path = resource.path(cluster, namespace=namespace)
        self.name = f"{resource.plural}.{resource.group}" if resource.group else resource.plural
        self.page_size = page_size
        self.watch_timeout = watch_timeout
        self.watch_silence_timeout = (
            watch_silence_timeout if watch_silence_timeout is not None else watch_timeout + _WATCH_CLOSE_SLACK
        )
        self.resync_period = resync_period
        self.unhealthy_after = unhealthy_after
        self.has_synced = asyncio.Event()
        self._clock = clock
        self._selectors: dict[str, str | int | bool] = {}
        if label_selector:
            self._selectors["labelSelector"] = label_selector
        if field_selector:
            self._selectors["fieldSelector"] = field_selector
        self._min_backoff = min_backoff
        self._max_backoff = max_backoff
        metrics = metrics if metrics is not None else RuntimeMetrics()
        self._metrics = metrics
        self._watch_restarts = metrics.informer_watch_restarts_total.labels(self.name)
        self._relists = metrics.informer_relists_total.labels(self.name)
        self._stalls = metrics.informer_watch_stalls_total.labels(self.name)
        self._errors = metrics.informer_errors_total.labels(self.name)
        self._handler_errors = metrics.informer_handler_errors_total.labels(self.name)
        self._handlers: list[EventHandler] = []
        self._store: dict[ObjectKey, JSON] = {}
        self._origin: dict[ObjectKey, str] = {}  # the endpoint each cached object came from
        self._rejected: dict[ObjectKey, tuple[str, str]] = {}  # key -> (endpoint, why an index refused it)
        self._index_funcs: dict[str, IndexFunc] = {}
        self._indices: dict[str, dict[str, set[ObjectKey]]] = {}
        self._indexed: dict[ObjectKey, dict[str, builtins.list[str]]] = {}  # the values each cached key is filed under
        self._task: asyncio.Task[None] | None = None
        self._running = False
        self._sources: dict[str, _Source] = {}
        wildcard = cluster is not None and cluster.value == WILDCARD
        self.add_index(BY_CLUSTER, by_cluster_strict if wildcard else by_cluster)
        self._endpoints: EndpointSet | None = None
        if isinstance(client, EndpointSet):
            self._endpoints = client
            client.subscribe(self._endpoints_changed)
            self._endpoints_changed()
        else:
            self._sources[""] = _Source("", client)

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
        if self._store:
            raise RuntimeError(f"informer {self.name}: add index {name!r} before objects are cached")
        self._index_funcs[name] = func
        self._indices[name] = {}

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

    def endpoint_of(self, key: ObjectKey) -> str | None:
        """The endpoint (URL; ``""`` for a single-server informer) the cached object came from."""
        return self._origin.get(key)

    @property
    def resource_version(self) -> str | None:
        """The last resourceVersion seen, for a single-endpoint informer (None with several or none)."""
        if len(self._sources) != 1:
            return None
        return next(iter(self._sources.values())).resource_version

    @property
    def endpoints(self) -> builtins.list[str]:
        return sorted(self._sources)

    # -- health ---------------------------------------------------------------------------------------

    def health(self) -> tuple[bool, str]:
        """Whether the cache is complete and current: every endpoint listed, none failing for long, nothing
        rejected by an index. The message names what is wrong."""
        if not self._running:
            return False, "not running"
        problems: builtins.list[str] = []
        now = self._clock.monotonic()
        for source in self._sources.values():
            if not source.listed:
                problems.append(
                    f"{source.label}: not synced yet" + (f" ({source.last_error})" if source.last_error else "")
                )
            elif source.failing_since is not None and now - source.failing_since >= self.unhealthy_after:
                problems.append(f"{source.label}: failing for {now - source.failing_since:.0f}s ({source.last_error})")
        if self._rejected:
            key, (_, why) = min(self._rejected.items())
            problems.append(f"{len(self._rejected)} object(s) refused by an index, e.g. {key}: {why}")
        return not problems, "; ".join(problems) or "ok"

    # -- running --------------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self._task is not None:
            raise RuntimeError(f"informer {self.name} already started")
        self._task = asyncio.create_task(self.run(), name=f"informer-{self.name}")

    async def stop(self) -> None:
        """Cancel the informer and wait until it (and every endpoint's loop) has ended.

        Safe to call from a task that is itself being cancelled (a ``finally`` on the way out): waiting with
        ``asyncio.wait`` never mistakes the informer's own cancellation for ours, so every informer of a
        manager gets stopped before the clients they use are closed.
        """
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        await asyncio.wait({task})
        if not task.cancelled() and task.exception() is not None:
            log.error("informer %s ended with an error", self.name, exc_info=task.exception())

    async def run(self) -> None:
        self._running = True
        try:
            for source in self._sources.values():
                self._start_source(source)
            self._update_synced()
            if self.resync_period:
                await self._resync_loop(self.resync_period)
            else:
                await asyncio.Event().wait()
        finally:
            self._running = False
            tasks = [source.task for source in self._sources.values() if source.task is not None]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for source in self._sources.values():
                source.task = None

    # -- endpoints ------------------------------------------------------------------------------------

    def _endpoints_changed(self) -> None:
        assert self._endpoints is not None
        current = dict(self._endpoints.endpoint_clients())
        for endpoint, source in list(self._sources.items()):
            if current.get(endpoint) is not source.client:
                self._remove_source(source)
        for endpoint, client in current.items():
            if endpoint not in self._sources:
                source = _Source(endpoint, client)
                self._sources[endpoint] = source
                log.info("informer %s: watching %s", self.name, source.label)
                if self._running:
                    self._start_source(source)
        self._update_synced()

    def _start_source(self, source: _Source) -> None:
        source.task = asyncio.create_task(self._run_source(source), name=f"informer-{self.name}-{source.label}")
        source.task.add_done_callback(lambda task: self._source_ended(source, task))

    def _source_ended(self, source: _Source, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:  # the loop catches every Exception; this is a bug in the loop itself
            self._errors.inc()
            source.failing_since = source.failing_since or self._clock.monotonic()
            source.last_error = f"list/watch loop died: {exc!r}"
            log.error("informer %s: %s: list/watch loop died", self.name, source.label, exc_info=exc)

    def _remove_source(self, source: _Source) -> None:
        """Stop watching an endpoint and drop what it served (it serves it no longer)."""
        del self._sources[source.endpoint]
        if source.task is not None:
            # Cancelled at its current await: it mutates the store only between awaits, so never again.
            source.task.cancel()
        gone = [key for key, endpoint in self._origin.items() if endpoint == source.endpoint]
        for key in gone:
            old = self._pop(key)
            if old is not None:
                self._emit_delete(old)
        for key in [key for key, (endpoint, _) in self._rejected.items() if endpoint == source.endpoint]:
            del self._rejected[key]
        log.info("informer %s: stopped watching %s (%d objects dropped)", self.name, source.label, len(gone))

    def _update_synced(self) -> None:
        if all(source.listed for source in self._sources.values()):
            self.has_synced.set()
        else:
            self.has_synced.clear()

    # -- one source's list/watch loop -----------------------------------------------------------------

    async def _run_source(self, source: _Source) -> None:
        backoff: ExponentialBackoff[str] = ExponentialBackoff(self._min_backoff, self._max_backoff, jitter=0.2)
        fresh_list = False
        while True:
            try:
                if source.resource_version is None:
                    if source.listed:
                        self._relists.inc()
                    source.resource_version = await self._list(source)
                    source.listed = fresh_list = True
                    self._ok(source)
                    self._update_synced()
                if not fresh_list:
                    self._watch_restarts.inc()
                fresh_list = False
                started = self._clock.monotonic()
                delivered = await self._watch(source, source.resource_version)
                if delivered or self._clock.monotonic() - started >= _MIN_HEALTHY_WATCH_SECONDS:
                    backoff.forget(source.endpoint)
                    self._ok(source)
                    continue
                delay = backoff.when(source.endpoint)
                self._failing(source, "watch closed at once without events")
                log.warning(
                    "informer %s: %s: watch closed at once; re-opening in %.1fs", self.name, source.label, delay
                )
            except WatchStalledError:
                self._stalls.inc()
                log.warning(
                    "informer %s: %s: watch silent for %.0fs; re-opening it",
                    self.name,
                    source.label,
                    self.watch_silence_timeout,
                )
                continue  # a fresh connection, at once: each stall already took the whole bound
            except GoneError as exc:
                delay = backoff.when(source.endpoint)
                log.info(
                    "informer %s: %s: resourceVersion %s expired (%s); relisting in %.1fs",
                    self.name,
                    source.label,
                    source.resource_version,
                    exc.message,
                    delay,
                )
                source.resource_version = None
            except TransportError as exc:
                # Unreachable: keep the last RV; the watch resumes from it when the server is back.
                delay = backoff.when(source.endpoint)
                self._failing(source, exc.message)
                log.warning("informer %s: %s: %s; retrying in %.1fs", self.name, source.label, exc.message, delay)
            except ApiError as exc:
                delay = backoff.when(source.endpoint)
                self._failing(source, str(exc))
                what = "watch" if source.resource_version is not None else "list"
                log.warning(
                    "informer %s: %s: %s failed (%s); relisting in %.1fs", self.name, source.label, what, exc, delay
                )
                source.resource_version = None
            except Exception as exc:
                # Not the server's doing: a bug or a malformed event. Loud, then start over from a list.
                delay = backoff.when(source.endpoint)
                self._errors.inc()
                self._failing(source, f"{type(exc).__name__}: {exc}")
                log.exception("informer %s: %s: unexpected error; relisting in %.1fs", self.name, source.label, delay)
                source.resource_version = None
            await sleep(self._clock, delay)

    def _ok(self, source: _Source) -> None:
        source.failing_since = None
        source.last_error = ""

    def _failing(self, source: _Source, message: str) -> None:
        if source.failing_since is None:
            source.failing_since = self._clock.monotonic()
        source.last_error = message[:300]

    async def _list(self, source: _Source) -> str:
        items: dict[ObjectKey, JSON] = {}
        params: dict[str, str | int | bool] = {**self._selectors, "limit": self.page_size}
        resource_version = ""
        while True:
            page = await source.client.request("GET", self.path, params=params)
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
        self._replace(source, items)
        log.debug(
            "informer %s: %s: listed %d objects at resourceVersion %s",
            self.name,
            source.label,
            len(items),
            resource_version,
        )
        return resource_version

    async def _watch(self, source: _Source, resource_version: str) -> bool:
        """Apply watch events until the server closes the stream; True if any event arrived."""
        delivered = False
        events = source.client.watch(
            self.path,
            resource_version=resource_version,
            params=self._selectors,
            timeout_seconds=self.watch_timeout,
        )
        try:
            async with Deadline(self._clock, self.watch_silence_timeout) as silence:
                async for event in events:
                    silence.reschedule(self.watch_silence_timeout)
                    if not delivered:
                        delivered = True
                        self._ok(source)
                    self._apply(source, event)
        except TimeoutError:
            raise WatchStalledError from None
        finally:
            aclose = getattr(events, "aclose", None)
            if aclose is not None:
                await aclose()
        return delivered

    def _apply(self, source: _Source, event: JSON) -> None:
        kind = event.get("type")
        obj: JSON = event.get("object") or {}
        resource_version = (obj.get("metadata") or {}).get("resourceVersion")
        if kind in ("ADDED", "MODIFIED"):
            key = key_of(obj)
            old = self._store.get(key)
            if self._put(source, key, obj):
                if old is None:
                    self._emit_add(obj)
                else:
                    self._emit_update(old, obj)
        elif kind == "DELETED":
            key = key_of(obj)
            self._rejected.pop(key, None)
            old = self._pop(key)
            if old is not None:
                self._emit_delete(obj)
        elif kind != "BOOKMARK":
            log.warning("informer %s: ignoring watch event of type %r", self.name, kind)
        if resource_version:
            source.resource_version = resource_version

    def _replace(self, source: _Source, items: dict[ObjectKey, JSON]) -> None:
        """Make the objects from ``source`` equal ``items``, emitting an event for every difference."""
        for key in [key for key, endpoint in self._origin.items() if endpoint == source.endpoint and key not in items]:
            old = self._pop(key)
            if old is not None:
                self._emit_delete(old)
        for key in [key for key, (endpoint, _) in self._rejected.items() if endpoint == source.endpoint]:
            if key not in items:
                del self._rejected[key]
        for key, obj in items.items():
            old = self._store.get(key)
            if not self._put(source, key, obj):
                continue
            if old is None:
                self._emit_add(obj)
            elif _resource_version(old) != _resource_version(obj):
                self._emit_update(old, obj)

    async def _resync_loop(self, period: float) -> None:
        await self.has_synced.wait()
        while True:
            await sleep(self._clock, period)
            for obj in list(self._store.values()):
                self._emit_update(obj, obj)

    # -- store and indices ----------------------------------------------------------------------------

    def _put(self, source: _Source, key: ObjectKey, obj: JSON) -> bool:
        """Cache ``obj`` if every index accepts it; otherwise keep what was cached and fail loudly."""
        values: dict[str, builtins.list[str]] = {}
        for name, func in self._index_funcs.items():
            try:
                values[name] = [str(value) for value in func(obj)]
            except Exception as exc:
                self._metrics.informer_index_errors_total.labels(self.name, name).inc()
                self._rejected[key] = (source.endpoint, f"index {name!r}: {exc}")
                log.error(
                    "informer %s: %s: index %r failed on %s; the object is kept out of the cache",
                    self.name,
                    source.label,
                    name,
                    key,
                    exc_info=True,
                )
                return False
        self._unindex(key)
        self._store[key] = obj
        self._origin[key] = source.endpoint
        self._indexed[key] = values
        self._rejected.pop(key, None)
        for name, index_values in values.items():
            index = self._indices[name]
            for value in index_values:
                index.setdefault(value, set()).add(key)
        if self._endpoints is not None and key.cluster:
            self._endpoints.learn(key.cluster, source.endpoint)
        return True

    def _pop(self, key: ObjectKey) -> JSON | None:
        old = self._store.pop(key, None)
        self._origin.pop(key, None)
        self._unindex(key)
        return old

    def _unindex(self, key: ObjectKey) -> None:
        for name, index_values in self._indexed.pop(key, {}).items():
            index = self._indices[name]
            for value in index_values:
                keys = index.get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del index[value]

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
            self._handler_errors.inc()
            log.exception("informer %s: event handler %s failed", self.name, getattr(func, "__qualname__", func))


def _resource_version(obj: JSON) -> str | None:
    version: str | None = (obj.get("metadata") or {}).get("resourceVersion")
    return version
