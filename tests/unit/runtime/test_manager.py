"""Manager: informers sync before controllers start; leadership gates controllers; stop is graceful."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

import pytest

from tmc.kcp.resources import CONFIGMAPS
from tmc.kcp.rest import TransportError
from tmc.runtime import (
    Controller,
    EventHandler,
    Informer,
    LeaderElector,
    LeadershipLostError,
    Manager,
    ObjectKey,
    Result,
    RuntimeMetrics,
    install_signal_handlers,
)

from .fakes import FakeClock, FakeLeaseApi, FakeListWatch, configmap, eventually


class Recording:
    def __init__(self) -> None:
        self.keys: list[ObjectKey] = []

    async def reconcile(self, key: ObjectKey) -> Result:
        self.keys.append(key)
        return Result()


def wire(api: FakeListWatch, elector: LeaderElector | None = None) -> tuple[Manager, Controller, Recording]:
    metrics = RuntimeMetrics()
    manager = Manager(metrics=metrics, elector=elector, shutdown_timeout=1)
    informer = manager.add_informer(
        Informer(api, CONFIGMAPS, metrics=metrics, resync_period=None, min_backoff=0.001, max_backoff=0.01)
    )
    reconciler = Recording()
    controller = manager.add_controller(Controller("cms", reconciler, metrics=metrics))
    informer.add_handler(EventHandler.enqueue(controller.enqueue))
    return manager, controller, reconciler


async def test_controllers_start_only_after_informers_synced_and_stop_with_the_manager() -> None:
    api = FakeListWatch([configmap("a", 1), configmap("b", 2)])
    api.list_error = TransportError(0, "Unreachable", "refused")
    manager, controller, reconciler = wire(api)
    stop = asyncio.Event()
    running = asyncio.create_task(manager.run(stop))
    await eventually(lambda: len(api.list_calls) >= 2)
    assert not manager.ready()
    assert not controller.running
    api.list_error = None
    await eventually(lambda: sorted(key.name for key in reconciler.keys) == ["a", "b"])
    assert manager.ready()
    stop.set()
    await asyncio.wait_for(running, 1)
    assert not controller.running
    assert not any(informer.running for informer in manager.informers)


async def test_stop_before_the_first_sync_returns_promptly() -> None:
    api = FakeListWatch()
    api.list_error = TransportError(0, "Unreachable", "refused")
    manager, controller, _ = wire(api)
    stop = asyncio.Event()
    running = asyncio.create_task(manager.run(stop))
    await eventually(lambda: len(api.list_calls) >= 1)
    stop.set()
    await asyncio.wait_for(running, 1)
    assert not controller.running


FAST: dict[str, Any] = {"lease_duration": 0.5, "renew_deadline": 0.1, "renew_interval": 0.01, "retry_period": 0.01}


async def test_a_standby_is_ready_but_reconciles_only_once_it_leads_and_releases_the_lease_on_stop() -> None:
    leases, clock = FakeLeaseApi(), FakeClock()
    leases.put_holder("other", clock.now, duration=15)
    elector = LeaderElector(leases, name="tmc", namespace="kube-system", identity="me", clock=clock, **FAST)
    api = FakeListWatch([configmap("a", 1)])
    manager, controller, reconciler = wire(api, elector)
    stop = asyncio.Event()
    running = asyncio.create_task(manager.run(stop))
    await eventually(manager.ready)
    await asyncio.sleep(0.03)
    assert reconciler.keys == [], "a standby must not reconcile"
    clock.advance(16)
    await eventually(lambda: [key.name for key in reconciler.keys] == ["a"])
    stop.set()
    await asyncio.wait_for(running, 1)
    assert leases.spec()["holderIdentity"] == ""
    assert not controller.running


async def test_losing_leadership_stops_controllers_and_raises() -> None:
    leases, clock = FakeLeaseApi(), FakeClock()
    elector = LeaderElector(leases, name="tmc", namespace="kube-system", identity="me", clock=clock, **FAST)
    manager, controller, reconciler = wire(FakeListWatch([configmap("a", 1)]), elector)
    running = asyncio.create_task(manager.run(asyncio.Event()))
    await eventually(lambda: reconciler.keys != [])
    leases.put_holder("other", clock.now)
    with pytest.raises(LeadershipLostError):
        await asyncio.wait_for(running, 1)
    assert not controller.running


async def test_install_signal_handlers_sets_stop_and_can_be_removed() -> None:
    stop = asyncio.Event()
    remove = install_signal_handlers(stop, signals=[signal.SIGUSR1])
    try:
        os.kill(os.getpid(), signal.SIGUSR1)
        await asyncio.wait_for(stop.wait(), 1)
    finally:
        remove()
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL
