"""A work queue of keys with client-go semantics, on asyncio.

Written here because ``asyncio.Queue`` only moves items: a controller needs a queue of *keys* in which

- a key added while it waits is not queued twice (events collapse into one reconcile, level-triggered);
- a key added while a worker processes it is queued again when the worker calls ``done`` (never handed to
  two workers at once, and never lost);
- ``add_after`` schedules with the clock's ``call_later`` (no sleeping tasks), keeping the earliest deadline;
- ``add_rate_limited`` backs off per key exponentially (``tmc.runtime.backoff``: 5 ms doubling to 300 s, as
  client-go's ``ItemExponentialFailureRateLimiter``) until ``forget``.

No Python library offers this (kopf serialises per object with its own queues but not as a reusable
type). Time comes from one injected ``tmc.runtime.clock.Clock`` (latency and delays), so tests can run on a
manual clock.

Shutdown: ``shutdown()`` stops handing out keys at once (``get`` returns ``None``) and drops queued and
delayed keys; that is safe because state is level-triggered and a restarted controller relists everything.
``drain()`` then waits until every key handed out has been marked ``done``.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Hashable
from typing import Generic, Protocol, TypeVar

from tmc.runtime.backoff import ExponentialBackoff
from tmc.runtime.clock import SYSTEM_CLOCK, Cancellable, Clock

K = TypeVar("K", bound=Hashable)

__all__ = ["ExponentialBackoff", "QueueMetrics", "WorkQueue"]


class QueueMetrics(Protocol):
    def set_depth(self, depth: int) -> None: ...

    def observe_latency(self, seconds: float) -> None: ...

    def inc_retries(self) -> None: ...


class _NoMetrics:
    def set_depth(self, depth: int) -> None:
        pass

    def observe_latency(self, seconds: float) -> None:
        pass

    def inc_retries(self) -> None:
        pass


class WorkQueue(Generic[K]):
    def __init__(
        self,
        *,
        backoff: ExponentialBackoff[K] | None = None,
        metrics: QueueMetrics | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._backoff: ExponentialBackoff[K] = backoff if backoff is not None else ExponentialBackoff()
        self._metrics: QueueMetrics = metrics if metrics is not None else _NoMetrics()
        self._clock = clock
        self._queue: deque[K] = deque()
        self._dirty: set[K] = set()  # needs processing: queued, or re-added while processing
        self._processing: set[K] = set()
        self._queued_at: dict[K, float] = {}
        self._delayed: dict[K, tuple[float, Cancellable]] = {}
        self._getters: deque[asyncio.Future[None]] = deque()
        self._idle = asyncio.Event()
        self._idle.set()
        self._shutting_down = False

    # -- adding ---------------------------------------------------------------------------------------

    def add(self, key: K) -> None:
        if self._shutting_down or key in self._dirty:
            return
        self._dirty.add(key)
        self._queued_at[key] = self._now()
        if key in self._processing:
            return  # ``done`` puts it back
        self._queue.append(key)
        self._metrics.set_depth(len(self._queue))
        self._wake_one()

    def add_after(self, key: K, delay: float) -> None:
        """Add ``key`` after ``delay`` seconds; of several pending delays for one key the earliest wins."""
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(key)
            return
        deadline = self._now() + delay
        pending = self._delayed.get(key)
        if pending is not None:
            if pending[0] <= deadline:
                return
            pending[1].cancel()
        handle = self._clock.call_later(delay, lambda: self._fire(key))
        self._delayed[key] = (deadline, handle)

    def add_rate_limited(self, key: K) -> None:
        """Re-add a key that failed, after its per-key exponential backoff."""
        if self._shutting_down:
            return
        self._metrics.inc_retries()
        self.add_after(key, self._backoff.when(key))

    def forget(self, key: K) -> None:
        """The key succeeded (or gave up): its next failure starts from the base delay again."""
        self._backoff.forget(key)

    def num_requeues(self, key: K) -> int:
        return self._backoff.retries(key)

    # -- taking ---------------------------------------------------------------------------------------

    async def get(self) -> K | None:
        """The next key, waiting for one; ``None`` once the queue is shut down."""
        while not self._queue and not self._shutting_down:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._getters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter in self._getters:
                    self._getters.remove(waiter)
                elif self._queue:
                    self._wake_one()  # we were woken but will not take the key: pass the turn on
                raise
        if self._shutting_down:
            return None
        key = self._queue.popleft()
        self._dirty.discard(key)
        self._processing.add(key)
        self._idle.clear()
        queued_at = self._queued_at.pop(key, None)
        if queued_at is not None:
            self._metrics.observe_latency(max(0.0, self._now() - queued_at))
        self._metrics.set_depth(len(self._queue))
        return key

    def done(self, key: K) -> None:
        """The worker finished ``key``; if it was added meanwhile it is queued again now."""
        self._processing.discard(key)
        if key in self._dirty and not self._shutting_down:
            self._queue.append(key)
            self._metrics.set_depth(len(self._queue))
            self._wake_one()
        if not self._processing:
            self._idle.set()

    # -- stopping -------------------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Stop handing out keys; waiting and future ``get`` calls return ``None``; adds are ignored."""
        self._shutting_down = True
        for _, handle in self._delayed.values():
            handle.cancel()
        self._delayed.clear()
        self._queue.clear()
        self._dirty.clear()
        self._queued_at.clear()
        self._metrics.set_depth(0)
        while self._getters:
            waiter = self._getters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    async def drain(self) -> None:
        """Wait until every key handed out has been marked ``done``."""
        await self._idle.wait()

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def processing(self) -> frozenset[K]:
        return frozenset(self._processing)

    @property
    def delayed(self) -> frozenset[K]:
        return frozenset(self._delayed)

    # -- internals ------------------------------------------------------------------------------------

    def _fire(self, key: K) -> None:
        self._delayed.pop(key, None)
        self.add(key)

    def _wake_one(self) -> None:
        while self._getters:
            waiter = self._getters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _now(self) -> float:
        return self._clock.monotonic()
