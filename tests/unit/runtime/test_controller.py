"""Controller: the reconcile outcomes, per-key serialisation across workers, and graceful shutdown."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable

import pytest

from tmc.errors import TerminalError
from tmc.runtime import Controller, ObjectKey, Result, RuntimeMetrics, get_logger

from .fakes import ManualClock, eventually

A = ObjectKey("ws-a", "default", "a")
B = ObjectKey("ws-b", "default", "b")


class ScriptedReconciler:
    """Runs ``behaviour(key, attempt)`` and records every call."""

    def __init__(self, behaviour: Callable[[ObjectKey, int], Awaitable[Result]]) -> None:
        self.behaviour = behaviour
        self.calls: list[ObjectKey] = []

    async def reconcile(self, key: ObjectKey) -> Result:
        self.calls.append(key)
        return await self.behaviour(key, self.calls.count(key))


def sample(metrics: RuntimeMetrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return value or 0.0


async def requeue_in_5s(key: ObjectKey, attempt: int) -> Result:
    return Result(requeue_after=5)


async def done(key: ObjectKey, attempt: int) -> Result:
    return Result()


async def fail_transiently(key: ObjectKey, attempt: int) -> Result:
    raise RuntimeError("apiserver hiccup")


async def fail_terminally(key: ObjectKey, attempt: int) -> Result:
    raise TerminalError("spec.replicas must be positive")


@pytest.mark.parametrize(
    ("behaviour", "outcome", "delayed", "requeues", "errors"),
    [
        pytest.param(done, "success", False, 0, 0, id="a plain Result is done and forgets the backoff"),
        pytest.param(requeue_in_5s, "requeue", True, 0, 0, id="requeue_after adds later and forgets"),
        pytest.param(fail_transiently, "error", True, 2, 1, id="an exception is retried with backoff"),
        pytest.param(fail_terminally, "terminal", False, 0, 1, id="a TerminalError is counted, not retried"),
    ],
)
async def test_each_reconcile_outcome_is_handled_as_the_contract_says(
    behaviour: Callable[[ObjectKey, int], Awaitable[Result]],
    outcome: str,
    delayed: bool,
    requeues: int,
    errors: int,
) -> None:
    clock = ManualClock()
    metrics = RuntimeMetrics()
    controller = Controller("things", ScriptedReconciler(behaviour), metrics=metrics, clock=clock)
    controller.queue.add_rate_limited(A)  # one earlier failure, so that "forgets the backoff" shows
    clock.advance(1)
    controller.start()
    await eventually(
        lambda: sample(metrics, "tmc_reconcile_total", controller="things", result=outcome) == 1,
        what=f"a {outcome} reconcile",
    )
    assert (A in controller.queue.delayed) is delayed
    assert controller.queue.num_requeues(A) == requeues
    assert sample(metrics, "tmc_reconcile_errors_total", controller="things") == errors
    assert sample(metrics, "tmc_reconcile_duration_seconds_count", controller="things") == 1
    await controller.shutdown(1)


async def test_requeue_after_uses_the_requested_delay_not_the_backoff() -> None:
    clock = ManualClock()
    reconciler = ScriptedReconciler(requeue_in_5s)
    controller = Controller("things", reconciler, clock=clock)
    controller.enqueue(A)
    controller.start()
    await eventually(lambda: len(reconciler.calls) == 1)
    clock.advance(4.9)
    await asyncio.sleep(0.01)
    assert len(reconciler.calls) == 1
    clock.advance(0.1)
    await eventually(lambda: len(reconciler.calls) == 2, what="the requeued reconcile")
    await controller.shutdown(1)


async def test_a_failing_key_is_retried_and_does_not_kill_the_worker() -> None:
    clock = ManualClock()

    async def fail_a_twice(key: ObjectKey, attempt: int) -> Result:
        if key == A and attempt <= 2:
            raise ValueError(f"attempt {attempt}")
        return Result()

    reconciler = ScriptedReconciler(fail_a_twice)
    controller = Controller("things", reconciler, workers=1, clock=clock)
    controller.start()
    controller.enqueue(A)
    await eventually(lambda: reconciler.calls == [A])
    controller.enqueue(B)
    await eventually(lambda: reconciler.calls == [A, B], what="the one worker to go on with B")
    assert clock.delays == [0.005]
    clock.advance(0.005)
    await eventually(lambda: reconciler.calls == [A, B, A])
    assert clock.delays == [0.005, 0.01]
    clock.advance(0.01)
    await eventually(lambda: reconciler.calls == [A, B, A, A])
    assert controller.queue.num_requeues(A) == 0, "success forgets the backoff"
    await controller.shutdown(1)


async def test_workers_never_reconcile_one_key_concurrently_but_do_run_different_keys_in_parallel() -> None:
    in_flight: Counter[ObjectKey] = Counter()
    overlaps: list[ObjectKey] = []
    max_parallel = 0

    async def slow(key: ObjectKey, attempt: int) -> Result:
        nonlocal max_parallel
        in_flight[key] += 1
        if in_flight[key] > 1:
            overlaps.append(key)
        max_parallel = max(max_parallel, sum(in_flight.values()))
        await asyncio.sleep(0.005)
        in_flight[key] -= 1
        return Result()

    reconciler = ScriptedReconciler(slow)
    controller = Controller("things", reconciler, workers=4)
    controller.start()
    keys = [ObjectKey("ws", "default", f"k{index}") for index in range(3)]
    for _ in range(30):
        for key in keys:
            controller.enqueue(key)
        await asyncio.sleep(0.001)
    await eventually(lambda: len(controller.queue) == 0 and not controller.queue.processing)
    await controller.shutdown(1)
    assert overlaps == []
    assert max_parallel > 1, "different keys should be reconciled in parallel"
    assert set(reconciler.calls) == set(keys)


async def reconciling_a_with_b_queued(reconciler: ScriptedReconciler) -> Controller:
    """A one-worker controller in the middle of reconciling A, with B waiting behind it."""
    controller = Controller("things", reconciler, workers=1)
    controller.start()
    controller.enqueue(A)
    await eventually(lambda: reconciler.calls == [A])
    controller.enqueue(B)
    return controller


async def test_shutdown_lets_in_flight_reconciles_finish_and_stops_taking_keys() -> None:
    release = asyncio.Event()
    finished: list[ObjectKey] = []

    async def wait_for_release(key: ObjectKey, attempt: int) -> Result:
        await release.wait()
        finished.append(key)
        return Result()

    reconciler = ScriptedReconciler(wait_for_release)
    controller = await reconciling_a_with_b_queued(reconciler)
    stopping = asyncio.create_task(controller.shutdown(grace_period=1))
    await asyncio.sleep(0.01)
    assert not stopping.done()
    release.set()
    await asyncio.wait_for(stopping, 1)
    assert finished == [A]
    assert reconciler.calls == [A], "B was queued but must not start after shutdown"
    assert not controller.running


async def test_shutdown_cancels_reconciles_that_outlive_the_grace_period() -> None:
    cancelled = asyncio.Event()

    async def hang(key: ObjectKey, attempt: int) -> Result:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return Result()

    reconciler = ScriptedReconciler(hang)
    controller = Controller("things", reconciler)
    controller.start()
    controller.enqueue(A)
    await eventually(lambda: reconciler.calls == [A])
    await asyncio.wait_for(controller.shutdown(grace_period=0.02), 1)
    assert cancelled.is_set()
    assert not controller.running


async def test_logs_from_a_reconcile_carry_controller_key_and_reconcile_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = get_logger("tests.reconciler")

    async def log_something(key: ObjectKey, attempt: int) -> Result:
        log.info("looking at it")
        return Result()

    controller = Controller("things", ScriptedReconciler(log_something))
    controller.enqueue(A)
    with caplog.at_level(logging.INFO, logger="tests.reconciler"):
        controller.start()
        await eventually(lambda: any(r.name == "tests.reconciler" for r in caplog.records))
    await controller.shutdown(1)
    record = next(r for r in caplog.records if r.name == "tests.reconciler")
    assert record.tmc_controller == "things"  # type: ignore[attr-defined]
    assert record.tmc_key == "ws-a|default/a"  # type: ignore[attr-defined]
    assert record.tmc_cluster == "ws-a"  # type: ignore[attr-defined]
    assert len(record.tmc_reconcile_id) == 8  # type: ignore[attr-defined]
    assert record.getMessage().startswith("[things ws-a|default/a rid=")


async def test_a_worker_whose_cancellation_a_library_swallowed_still_stops_and_gives_its_key_back() -> None:
    """A request failing as its task is cancelled can surface as a connection error instead of CancelledError."""

    async def swallow(key: ObjectKey, attempt: int) -> Result:
        if key == A and attempt == 1:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                raise ConnectionError("All connection attempts failed") from None
        return Result()

    reconciler = ScriptedReconciler(swallow)
    controller = await reconciling_a_with_b_queued(reconciler)

    controller.cancel_workers()  # leadership lost
    await asyncio.wait_for(controller.wait_stopped(), 1)

    assert reconciler.calls == [A], "no key is taken after the term ended"
    assert not controller.running
    controller.start()  # the next term does both
    await eventually(lambda: sorted(reconciler.calls, key=str) == sorted([A, A, B], key=str))
    await controller.shutdown(grace_period=1)
