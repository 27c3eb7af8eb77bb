"""A controller: one work queue of object keys and N workers that call one reconciler.

The worker loop is written once here so that no controller copies it (kcp hand-copies one per
controller). Per-key serialisation comes from the queue: a key is never handed to two workers at once,
and events that arrive while it is being reconciled collapse into one more reconcile afterwards.

Workers can stop and start again around one queue, because leadership comes and goes while the process
(and its caches and queue) lives on:

- ``cancel_workers()`` cancels every worker at once (synchronously: leadership was lost and nothing may be
  written any more); a reconcile cancelled mid-flight puts its key back, so the next leader term does it
  again. ``start()`` later starts fresh workers on the same queue (keys queued meanwhile are kept).
- ``shutdown()`` is final and graceful: stop handing out keys, let in-flight reconciles finish for up to
  ``grace_period`` seconds, then cancel what is left.

``CancelledError`` is never swallowed here, and a worker does not rely on nobody else swallowing it: a
library may turn the cancellation into an error of its own (a request failing as the task is cancelled ends
as a connection error), and a worker that caught that would go on taking keys after its term ended, so that
``wait_stopped`` never returned and the process never stood for leadership again (seen after kcp restarts).
So ``cancel_workers`` also marks the workers as ended, and each one checks the mark after every key.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Mapping
from typing import Any

from tmc.errors import ApiError, ConflictError, TerminalError
from tmc.runtime.backoff import ExponentialBackoff
from tmc.runtime.clock import SYSTEM_CLOCK, Clock
from tmc.runtime.keys import ObjectKey, key_of
from tmc.runtime.logcontext import ReconcileContext, get_logger, reconcile_context
from tmc.runtime.metrics import RuntimeMetrics
from tmc.runtime.queue import WorkQueue
from tmc.runtime.reconciler import Reconciler

log = get_logger(__name__)

SUCCESS, REQUEUE, ERROR, TERMINAL, CANCELLED = "success", "requeue", "error", "terminal", "cancelled"


class Controller:
    def __init__(
        self,
        name: str,
        reconciler: Reconciler,
        *,
        workers: int = 1,
        metrics: RuntimeMetrics | None = None,
        backoff: ExponentialBackoff[ObjectKey] | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if workers < 1:
            raise ValueError(f"controller {name}: workers must be >= 1, got {workers}")
        self.name = name
        self.reconciler = reconciler
        self.workers = workers
        self.metrics = metrics if metrics is not None else RuntimeMetrics()
        self._clock = clock
        self.queue: WorkQueue[ObjectKey] = WorkQueue(
            backoff=backoff, metrics=self.metrics.queue_metrics(name), clock=clock
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._ended: set[asyncio.Task[Any]] = set()  # workers told to stop; each leaves at its next key
        self._reconcile_total = self.metrics.reconcile_total
        self._errors_total = self.metrics.reconcile_errors_total.labels(name)
        self._duration = self.metrics.reconcile_duration_seconds.labels(name)

    # -- feeding --------------------------------------------------------------------------------------

    def enqueue(self, key: ObjectKey) -> None:
        self.queue.add(key)

    def enqueue_after(self, key: ObjectKey, delay: float) -> None:
        self.queue.add_after(key, delay)

    def enqueue_object(self, obj: Mapping[str, Any]) -> None:
        """For informer handlers that reconcile the object itself."""
        self.queue.add(key_of(obj))

    # -- running --------------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return any(not task.done() for task in self._tasks)

    def start(self) -> None:
        """Start the workers (again, after ``cancel_workers``); keys queued meanwhile are processed now."""
        if self.running:
            raise RuntimeError(f"controller {self.name} already started")
        if self.queue.shutting_down:
            raise RuntimeError(f"controller {self.name} was shut down; create a new one")
        self._tasks = [
            asyncio.create_task(self._worker(), name=f"{self.name}-worker-{index}") for index in range(self.workers)
        ]
        log.info("controller %s started with %d workers", self.name, self.workers)

    def cancel_workers(self) -> None:
        """Cancel every worker now, in-flight reconciles included; their keys stay queued for a restart."""
        for task in self._tasks:
            if not task.done():
                self._ended.add(task)
                task.add_done_callback(self._ended.discard)
            task.cancel()

    async def wait_stopped(self) -> None:
        """Wait until every worker has ended (after ``cancel_workers`` or ``shutdown``)."""
        tasks = [task for task in self._tasks if not task.done()]
        if tasks:
            await asyncio.wait(tasks)

    async def shutdown(self, grace_period: float = 30.0) -> None:
        """Final: stop taking keys; wait up to ``grace_period`` s for in-flight reconciles, then cancel them."""
        self.queue.shutdown()
        tasks = [task for task in self._tasks if not task.done()]
        if not tasks:
            return
        try:
            _, pending = await asyncio.wait(tasks, timeout=grace_period)
        except asyncio.CancelledError:
            for task in tasks:
                task.cancel()
            raise
        if pending:
            log.warning(
                "controller %s: %d reconciles still running after %.1fs; cancelling",
                self.name,
                len(pending),
                grace_period,
            )
            for task in pending:
                task.cancel()
            await asyncio.wait(pending)
        log.info("controller %s stopped", self.name)

    async def _worker(self) -> None:
        me = asyncio.current_task()
        while True:
            key = await self.queue.get()
            if key is None:
                return
            try:
                await self._process(key)
                if me in self._ended:  # cancelled, and something on the way swallowed it
                    log.warning("controller %s: a worker's cancellation was swallowed; it stops now", self.name)
                    raise asyncio.CancelledError
            except asyncio.CancelledError:
                # Leadership lost or shutting down: the key goes back (ignored once the queue is shut down),
                # so the next leader term reconciles it again.
                self.queue.add(key)
                raise
            finally:
                self.queue.done(key)

    async def _process(self, key: ObjectKey) -> None:
        context = ReconcileContext(self.name, key, secrets.token_hex(4))
        with reconcile_context(context):
            started = self._now()
            try:
                result = await self.reconciler.reconcile(key)
            except asyncio.CancelledError:
                self._record(CANCELLED, started)
                log.info("reconcile cancelled")
                raise
            except TerminalError as exc:
                # Retrying cannot fix it (e.g. an invalid spec the user must change): count it and move on.
                self.queue.forget(key)
                self._record(TERMINAL, started)
                log.error("reconcile failed permanently, not retrying: %s", exc)
                return
            except ConflictError as exc:
                # Optimistic concurrency at work: the cache was behind a write. Expected, retried; no traceback.
                self.queue.add_rate_limited(key)
                self._record(ERROR, started)
                log.info("conflict (%s); retry %d scheduled", exc.message, self.queue.num_requeues(key))
                return
            except ApiError as exc:
                # The server answered and said why; its message is the whole story.
                self.queue.add_rate_limited(key)
                self._record(ERROR, started)
                log.warning(
                    "reconcile failed: %d %s; retry %d scheduled",
                    exc.status_code,
                    exc.message,
                    self.queue.num_requeues(key),
                )
                return
            except Exception:
                self.queue.add_rate_limited(key)
                self._record(ERROR, started)
                log.exception("reconcile failed; retry %d scheduled", self.queue.num_requeues(key))
                return
            self.queue.forget(key)
            if result.requeue_after is not None:
                self.queue.add_after(key, result.requeue_after)
                self._record(REQUEUE, started)
                log.debug("reconciled; requeue after %.3fs", result.requeue_after)
            else:
                self._record(SUCCESS, started)
                log.debug("reconciled")

    def _record(self, result: str, started: float) -> None:
        self._reconcile_total.labels(self.name, result).inc()
        if result in (ERROR, TERMINAL):
            self._errors_total.inc()
        self._duration.observe(max(0.0, self._now() - started))

    def _now(self) -> float:
        return self._clock.monotonic()
