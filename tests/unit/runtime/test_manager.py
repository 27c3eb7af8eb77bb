"""Manager: informers sync before controllers start; leadership gates controllers; stop is graceful."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

from tmc.kcp.resources import CONFIGMAPS
from tmc.kcp.rest import TransportError
from tmc.runtime import (
    Controller,
    EventHandler,
    Informer,
    LeaderElector,
    Manager,
    ObjectKey,
    Result,
    RuntimeMetrics,
    install_signal_handlers,
)

from .fakes import FakeEndpointSet, FakeLeaseApi, FakeListWatch, ManualClock, configmap, eventually


class Recording:
    def __init__(self) -> None:
        self.keys: list[ObjectKey] = []

    async def reconcile(self, key: ObjectKey) -> Result:
        self.keys.append(key)
        return Result()


def wire(
    api: FakeListWatch, elector: LeaderElector | None = None, reconciler: Any = None
) -> tuple[Manager, Controller, Recording]:
    metrics = RuntimeMetrics()
    manager = Manager(metrics=metrics, elector=elector, shutdown_timeout=1)
    informer = manager.add_informer(
        Informer(api, CONFIGMAPS, metrics=metrics, resync_period=None, min_backoff=0.001, max_backoff=0.01)
    )
    reconciler = reconciler or Recording()
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


TIMINGS: dict[str, Any] = {"lease_duration": 15.0, "renew_deadline": 10.0, "retry_period": 2.0}


def make_elector(leases: FakeLeaseApi, clock: ManualClock) -> LeaderElector:
    return LeaderElector(leases, name="tmc", namespace="kube-system", identity="me", clock=clock, **TIMINGS)


async def test_a_standby_is_ready_but_reconciles_only_once_it_leads_and_releases_the_lease_on_stop() -> None:
    leases, clock = FakeLeaseApi(), ManualClock()
    leases.put_holder("other", clock.utc(), duration=15)
    api = FakeListWatch([configmap("a", 1)])
    manager, controller, reconciler = wire(api, make_elector(leases, clock))
    stop = asyncio.Event()
    running = asyncio.create_task(manager.run(stop))
    await eventually(manager.ready)
    assert manager.readiness()[1].endswith("standby (me)")
    await clock.run_for(14.0)
    assert reconciler.keys == [], "a standby must not reconcile"
    await clock.run_for(2.0)
    await eventually(lambda: [key.name for key in reconciler.keys] == ["a"])
    assert manager.readiness()[1].endswith("leader (me)")
    stop.set()
    await asyncio.wait_for(running, 1)
    assert leases.spec()["holderIdentity"] == ""
    assert not controller.running


class Blocking:
    """Reconciles hang until cancelled, the first time per key; then they succeed."""

    def __init__(self) -> None:
        self.started: list[ObjectKey] = []
        self.cancelled: list[ObjectKey] = []
        self.done: list[ObjectKey] = []

    async def reconcile(self, key: ObjectKey) -> Result:
        self.started.append(key)
        if self.started.count(key) == 1:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.cancelled.append(key)
                raise
        self.done.append(key)
        return Result()


async def test_losing_leadership_cancels_in_flight_reconciles_at_once_and_the_process_leads_again_later() -> None:
    leases, clock = FakeLeaseApi(), ManualClock()
    elector = make_elector(leases, clock)
    reconciler = Blocking()
    manager, controller, _ = wire(FakeListWatch([configmap("a", 1)]), elector, reconciler)
    running = asyncio.create_task(manager.run(asyncio.Event()))
    await eventually(lambda: reconciler.started == [ObjectKey("", "default", "a")])
    leases.put_holder("other", clock.utc())
    elector.observe({"spec": leases.spec()})  # the Lease watch shows the new holder
    await eventually(lambda: reconciler.cancelled == [ObjectKey("", "default", "a")], what="the cancellation")
    assert clock.now == 0.0, "cancelled when leadership ended, not at some later point"
    assert not running.done(), "the process stays up as a standby with warm caches"
    assert not controller.running
    assert manager.ready()
    cancelled = manager.metrics.registry.get_sample_value(
        "tmc_reconcile_total", {"controller": "cms", "result": "cancelled"}
    )
    assert cancelled == 1
    await clock.run_for(16.0)  # the other holder never renews: its lease expires on our clock
    await eventually(lambda: reconciler.done == [ObjectKey("", "default", "a")], what="the key, done next term")
    assert controller.running
    assert leases.spec()["holderIdentity"] == "me"
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)


async def test_a_leader_that_cannot_renew_cancels_its_reconciles_by_the_renew_deadline() -> None:
    leases, clock = FakeLeaseApi(), ManualClock()
    elector = make_elector(leases, clock)
    reconciler = Blocking()
    manager, _, _ = wire(FakeListWatch([configmap("a", 1)]), elector, reconciler)
    running = asyncio.create_task(manager.run(asyncio.Event()))
    await eventually(lambda: len(reconciler.started) == 1)
    leases.fail_with = TransportError(0, "Unreachable", "kcp is restarting")
    while not reconciler.cancelled:
        await clock.run_for(0.5)
    assert clock.now <= TIMINGS["renew_deadline"], "stopped before anyone else could take over"
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)


async def test_readiness_names_informers_whose_watches_fail_and_the_health_server_answers_a_standby() -> None:
    leases, clock = FakeLeaseApi(), ManualClock()
    leases.put_holder("other", clock.utc(), duration=15)
    api = FakeListWatch()
    api.list_error = TransportError(0, "Unreachable", "refused")
    metrics = RuntimeMetrics()
    manager = Manager(metrics=metrics, elector=make_elector(leases, clock), health_address=("127.0.0.1", 0))
    manager.add_informer(Informer(api, CONFIGMAPS, metrics=metrics, resync_period=None, min_backoff=0.001))
    stop = asyncio.Event()
    running = asyncio.create_task(manager.run(stop))
    await eventually(lambda: manager.health is not None and manager.health.port != 0 and len(api.list_calls) >= 2)
    assert manager.health is not None
    port = manager.health.port
    assert await http_status(port, "/healthz") == (200, "ok\n")
    status, body = await http_status(port, "/readyz")
    assert status == 503
    assert "informer configmaps: server: not synced yet (refused)" in body
    api.list_error = None
    await eventually(manager.ready)
    assert await http_status(port, "/readyz?verbose") == (200, "ok\nstandby (me)\n")
    stop.set()
    await asyncio.wait_for(running, 1)


async def http_status(port: int, path: str) -> tuple[int, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
    await writer.drain()
    raw = await asyncio.wait_for(reader.read(), 1)
    writer.close()
    await writer.wait_closed()
    head, _, body = raw.decode().partition("\r\n\r\n")
    return int(head.split()[1]), body


async def test_controllers_wait_for_informers_whose_endpoints_another_informer_announces() -> None:
    """The endpoint slice informer's events add virtual workspace URLs to the tenant informers."""
    shard = FakeListWatch([configmap("web", 1, cluster="ws-a")])
    shard.list_error = TransportError(0, "Unreachable", "not yet")
    endpoints = FakeEndpointSet()
    announcer = FakeListWatch([configmap("slice", 1)])
    metrics = RuntimeMetrics()
    manager = Manager(metrics=metrics, shutdown_timeout=1)
    slices = manager.add_informer(Informer(announcer, CONFIGMAPS, metrics=metrics, resync_period=None))
    tenants = manager.add_informer(
        Informer(endpoints, CONFIGMAPS, metrics=metrics, resync_period=None, min_backoff=0.001, max_backoff=0.01)
    )
    slices.add_handler(on_add=lambda obj: endpoints.set({"https://shard": shard}))
    reconciler = Recording()
    controller = manager.add_controller(Controller("cms", reconciler, metrics=metrics))
    tenants.add_handler(EventHandler.enqueue(controller.enqueue))
    stop = asyncio.Event()
    running = asyncio.create_task(manager.run(stop))
    await eventually(lambda: len(shard.list_calls) >= 2, what="the tenant informer trying its endpoint")
    assert not controller.running, "started before the announced endpoint was listed"
    shard.list_error = None
    await eventually(lambda: reconciler.keys == [ObjectKey("ws-a", "default", "web")])
    stop.set()
    await asyncio.wait_for(running, 1)


async def test_install_signal_handlers_sets_stop_and_can_be_removed() -> None:
    stop = asyncio.Event()
    remove = install_signal_handlers(stop, signals=[signal.SIGUSR1])
    try:
        os.kill(os.getpid(), signal.SIGUSR1)
        await asyncio.wait_for(stop.wait(), 1)
    finally:
        remove()
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL


async def test_a_cancelled_manager_stops_every_informer_before_it_returns() -> None:
    metrics = RuntimeMetrics()
    manager = Manager(metrics=metrics, shutdown_timeout=1)
    apis = [FakeListWatch([configmap(f"cm{index}", 1)]) for index in range(3)]
    informers = [manager.add_informer(Informer(api, CONFIGMAPS, metrics=metrics, resync_period=None)) for api in apis]
    running = asyncio.create_task(manager.run(asyncio.Event()))
    await eventually(lambda: all(api.watch_calls for api in apis), what="all informers watching")
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)
    assert not any(informer.running for informer in informers), "none may outlive the clients it uses"
