"""The composition root of a controller process: health server, informers, leader election, controllers.

1. start the health server (``/healthz`` answers from the first moment, leader or standby) and every
   informer;
2. wait until every informer has synced (an informer whose endpoints change while we wait is waited for
   again), so that no reconcile reads a half-filled cache;
3. without leader election: start the controllers. With it: wait for the Lease while the caches stay warm
   (a standby is a full replica minus the workers), then start the controllers' workers;
4. leadership lost (no renewal by the renew deadline, or another holder): every worker is cancelled at that
   very moment, in-flight reconciles included (``LeaderElector`` explains why that is before anyone else can
   lead); the queues, caches and watches live on and the process stands by for the Lease again. This is why
   a kcp restart longer than the renew deadline needs no process restart;
5. on ``stop``: while still renewing, let in-flight reconciles finish (up to ``shutdown_timeout``), then
   release the Lease, stop informers and the health server.

``/readyz`` is ``readiness()``: every informer of every controller (and the Lease watch) has synced, none of
its endpoints has been failing for long, and no object was refused by an index; the body names what is not.
Readiness does not depend on leadership: a standby with warm caches is a healthy replica that can take over
at once, and tying readiness to leadership would make a rolling update wait forever on unready standbys.

Signals are the caller's: ``install_signal_handlers(stop)`` sets ``stop`` on SIGTERM/SIGINT.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from tmc.runtime.controller import Controller
from tmc.runtime.health import HealthServer
from tmc.runtime.informer import Informer
from tmc.runtime.leader import LeaderElector
from tmc.runtime.metrics import RuntimeMetrics

log = logging.getLogger(__name__)


class Manager:
    def __init__(
        self,
        *,
        metrics: RuntimeMetrics | None = None,
        elector: LeaderElector | None = None,
        health_address: tuple[str, int] | None = None,
        shutdown_timeout: float = 30.0,
    ) -> None:
        self.metrics = metrics if metrics is not None else RuntimeMetrics()
        self.elector = elector
        self.shutdown_timeout = shutdown_timeout
        self.informers: list[Informer] = []
        self.controllers: list[Controller] = []
        # Controllers that read only these informers start once those synced, before the others: the
        # APIExport controller repairs the export the virtual-workspace informers are served by, so waiting
        # for those first would wait forever on a broken export.
        self._reads: dict[Controller, list[Informer]] = {}
        self._pending: set[asyncio.Task[None]] = set()
        self.health: HealthServer | None = None
        if health_address is not None:
            host, port = health_address
            self.health = HealthServer(self.metrics.registry, ready=self.readiness, host=host, port=port)

    def add_informer(self, informer: Informer) -> Informer:
        self.informers.append(informer)
        return informer

    def add_controller(self, controller: Controller, *, reads: Iterable[Informer] | None = None) -> Controller:
        """``reads``: the only informers the controller's reconciles read; it then starts as soon as they synced
        instead of after every informer of the process."""
        self.controllers.append(controller)
        if reads is not None:
            self._reads[controller] = list(reads)
        return controller

    def readiness(self) -> tuple[bool, str]:
        """Ready when every informer's watches are healthy; the text names each one that is not."""
        ready = True
        lines = []
        for informer in self.informers:
            healthy, message = informer.health()
            if not healthy:
                ready = False
                lines.append(f"informer {informer.name}: {message}")
        if self.elector is not None:
            role = "leader" if self.elector.is_leader else "standby"
            lines.append(f"{role} ({self.elector.identity})")
        return ready, "\n".join(lines)

    def ready(self) -> bool:
        return self.readiness()[0]

    async def run(self, stop: asyncio.Event) -> None:
        if self.health is not None:
            await self.health.start()
        try:
            for informer in self.informers:
                informer.start()
            early = [informer for informers in self._reads.values() for informer in informers]
            if not await _until(stop, self._wait_synced(early or self.informers)):
                return
            if self.elector is None:
                self._start_controllers()
                await stop.wait()
            else:
                await self._lead(self.elector, stop)
        finally:
            # Every step runs even when we are being cancelled, so nothing outlives the clients it uses.
            try:
                await self._shutdown_controllers()
            finally:
                await asyncio.gather(*(informer.stop() for informer in self.informers), return_exceptions=True)
                if self.health is not None:
                    await self.health.stop()

    async def _wait_synced(self, informers: list[Informer]) -> None:
        while not all(informer.has_synced.is_set() for informer in informers):
            # One informer's events can add endpoints to another (the endpoint slice feeds the virtual
            # workspace informers), clearing its has_synced again: wait until all are synced at once.
            await asyncio.gather(*(informer.has_synced.wait() for informer in informers))

    async def _lead(self, elector: LeaderElector, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if not await _until(stop, elector.acquire()):
                return
            lost = asyncio.Event()

            def on_lost(lost: asyncio.Event = lost) -> None:
                # Synchronously, at the deadline: nothing may be written from here on.
                self._cancel_pending()
                for controller in self.controllers:
                    controller.cancel_workers()
                lost.set()

            renewer = asyncio.create_task(elector.keep_leading(on_lost), name=f"lease-renew-{elector.name}")
            try:
                self._start_controllers()
                await _first(stop, lost)
                if not lost.is_set():
                    await self._shutdown_controllers()  # finish in-flight work while still renewing
            finally:
                await elector.stop_renewing(renewer)
            if lost.is_set():
                await asyncio.gather(*(controller.wait_stopped() for controller in self.controllers))
                log.warning("leadership lost: workers stopped; standing by with warm caches")
                continue
            if elector.release_on_exit:
                await elector.release()
            return

    def _start_controllers(self) -> None:
        waiting = [c for c in self.controllers if not c.running and c not in self._reads]
        for controller in self._reads:
            if not controller.running:
                controller.start()
        if not waiting:
            return
        if all(informer.has_synced.is_set() for informer in self.informers):
            for controller in waiting:
                controller.start()
            return
        task = asyncio.create_task(self._start_when_synced(waiting), name="controllers-start")
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _start_when_synced(self, controllers: list[Controller]) -> None:
        await self._wait_synced(self.informers)
        log.info("all %d informers synced", len(self.informers))
        for controller in controllers:
            if not controller.running:
                controller.start()

    def _cancel_pending(self) -> None:
        for task in self._pending:
            task.cancel()

    async def _shutdown_controllers(self) -> None:
        self._cancel_pending()
        await asyncio.gather(*self._pending, return_exceptions=True)
        await asyncio.gather(*(controller.shutdown(self.shutdown_timeout) for controller in self.controllers))


async def _first(*events: asyncio.Event) -> None:
    """Wait until any of ``events`` is set."""
    waiters = [asyncio.create_task(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def _until(stop: asyncio.Event, work: Coroutine[Any, Any, None]) -> bool:
    """Run ``work`` until it finishes (True) or ``stop`` is set first (False, ``work`` cancelled)."""
    task = asyncio.create_task(work)
    stopped = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
        if not task.done():
            task.cancel()
            await asyncio.wait({task})
    if task.cancelled():
        return False
    task.result()  # re-raises what ``work`` raised
    return True


def install_signal_handlers(
    stop: asyncio.Event, signals: Iterable[signal.Signals] = (signal.SIGTERM, signal.SIGINT)
) -> Callable[[], None]:
    """Set ``stop`` on the given signals; returns a function that removes the handlers again."""
    loop = asyncio.get_running_loop()
    installed = list(signals)
    for sig in installed:
        loop.add_signal_handler(sig, stop.set)

    def remove() -> None:
        for sig in installed:
            loop.remove_signal_handler(sig)

    return remove
