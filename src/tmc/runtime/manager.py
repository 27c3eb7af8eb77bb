"""Runs a process's informers and controllers in the right order, and stops them in the reverse order.

1. start the health server (``/healthz`` answers from the first moment) and every informer;
2. wait until every informer ``has_synced`` (``/readyz`` turns 200), so that no reconcile reads a
   half-filled cache;
3. with leader election: wait for the Lease (a standby keeps its caches warm meanwhile); then start the
   controllers (keys queued during the sync are processed now);
4. on ``stop``: shut controllers down gracefully (while still holding the Lease), release the Lease, stop
   informers and the health server.

If leadership is lost, controllers are stopped and ``run`` raises ``LeadershipLostError``: the caller
should exit and let its supervisor restart it with clean state, as client-go based controllers do.
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
        self.health: HealthServer | None = None
        if health_address is not None:
            host, port = health_address
            self.health = HealthServer(self.metrics.registry, ready=self.ready, host=host, port=port)

    def add_informer(self, informer: Informer) -> Informer:
        self.informers.append(informer)
        return informer

    def add_controller(self, controller: Controller) -> Controller:
        self.controllers.append(controller)
        return controller

    def ready(self) -> bool:
        """Every informer has synced (leader or standby alike; see ``health.py``)."""
        return all(informer.has_synced.is_set() for informer in self.informers)

    async def run(self, stop: asyncio.Event) -> None:
        if self.health is not None:
            await self.health.start()
        try:
            for informer in self.informers:
                informer.start()
            if not await _until(stop, self._wait_synced()):
                return
            log.info("all %d informers synced", len(self.informers))
            if self.elector is None:
                self._start_controllers()
                await stop.wait()
            else:
                await self._lead(self.elector, stop)
        finally:
            await self._stop_controllers()
            for informer in self.informers:
                await informer.stop()
            if self.health is not None:
                await self.health.stop()

    async def _wait_synced(self) -> None:
        await asyncio.gather(*(informer.has_synced.wait() for informer in self.informers))

    async def _lead(self, elector: LeaderElector, stop: asyncio.Event) -> None:
        async def lead() -> None:
            async with elector.leading():
                self._start_controllers()
                await stop.wait()
                await self._stop_controllers()  # finish in-flight work before the Lease is released

        leading = asyncio.create_task(lead(), name="manager-leading")
        stopped = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({leading, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if not leading.done() and not elector.is_leader:
                leading.cancel()  # stopped while still a standby
            await asyncio.wait({leading})
        except asyncio.CancelledError:
            leading.cancel()
            raise
        finally:
            stopped.cancel()
        if not leading.cancelled():
            leading.result()  # re-raises LeadershipLostError

    def _start_controllers(self) -> None:
        for controller in self.controllers:
            if not controller.running:
                controller.start()

    async def _stop_controllers(self) -> None:
        await asyncio.gather(*(controller.shutdown(self.shutdown_timeout) for controller in self.controllers))


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
