"""WorkQueue: de-duplication, per-key serialisation, delays, backoff and shutdown, on a fake clock."""

from __future__ import annotations

import asyncio

import pytest

from tmc.runtime.queue import ExponentialBackoff, WorkQueue

from .fakes import ManualClock


class RecordingMetrics:
    def __init__(self) -> None:
        self.depths: list[int] = []
        self.latencies: list[float] = []
        self.retries = 0

    def set_depth(self, depth: int) -> None:
        self.depths.append(depth)

    def observe_latency(self, seconds: float) -> None:
        self.latencies.append(seconds)

    def inc_retries(self) -> None:
        self.retries += 1


def make_queue(clock: ManualClock, metrics: RecordingMetrics | None = None) -> WorkQueue[str]:
    return WorkQueue(clock=clock, metrics=metrics)


async def test_a_key_added_while_queued_is_not_duplicated() -> None:
    queue = make_queue(ManualClock())
    for key in ("a", "b", "a", "a", "b"):
        queue.add(key)
    assert len(queue) == 2
    assert [await queue.get(), await queue.get()] == ["a", "b"]
    assert len(queue) == 0


async def test_a_key_added_while_processing_is_requeued_only_after_done() -> None:
    queue = make_queue(ManualClock())
    queue.add("a")
    assert await queue.get() == "a"
    queue.add("a")
    queue.add("a")
    assert len(queue) == 0, "a key being processed must not be handed to a second worker"
    second = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    assert not second.done()
    queue.done("a")
    assert await asyncio.wait_for(second, 1) == "a"
    queue.done("a")
    assert len(queue) == 0, "the two adds during processing collapse into one"


async def test_done_without_a_new_add_does_not_requeue() -> None:
    queue = make_queue(ManualClock())
    queue.add("a")
    assert await queue.get() == "a"
    queue.done("a")
    assert len(queue) == 0
    assert queue.processing == frozenset()


async def test_add_after_fires_in_deadline_order_not_call_order() -> None:
    clock = ManualClock()
    queue = make_queue(clock)
    queue.add_after("late", 3)
    queue.add_after("early", 1)
    queue.add_after("middle", 2)
    assert len(queue) == 0
    clock.advance(1.5)
    assert len(queue) == 1
    clock.advance(5)
    assert [await queue.get() for _ in range(3)] == ["early", "middle", "late"]


@pytest.mark.parametrize(
    ("first", "second", "fires_at"),
    [
        pytest.param(10.0, 1.0, 1.0, id="a sooner delay replaces a later one"),
        pytest.param(1.0, 10.0, 1.0, id="a later delay does not postpone a sooner one"),
    ],
)
async def test_of_two_delays_for_one_key_the_earliest_wins(first: float, second: float, fires_at: float) -> None:
    clock = ManualClock()
    queue = make_queue(clock)
    queue.add_after("a", first)
    queue.add_after("a", second)
    assert clock.pending == 1
    clock.advance(fires_at - 0.01)
    assert len(queue) == 0
    clock.advance(0.01)
    assert len(queue) == 1
    clock.advance(20)
    assert len(queue) == 1


async def test_rate_limited_adds_back_off_exponentially_to_the_cap_and_forget_resets() -> None:
    clock = ManualClock()
    metrics = RecordingMetrics()
    queue: WorkQueue[str] = WorkQueue(backoff=ExponentialBackoff(base=0.005, cap=300.0), clock=clock, metrics=metrics)
    for _ in range(20):
        queue.add_rate_limited("a")
        clock.advance(1000)
        assert await queue.get() == "a"
        queue.done("a")
    assert clock.delays[:4] == [0.005, 0.01, 0.02, 0.04]
    assert clock.delays[-1] == 300.0
    assert max(clock.delays) == 300.0
    assert queue.num_requeues("a") == 20
    assert metrics.retries == 20

    queue.forget("a")
    assert queue.num_requeues("a") == 0
    queue.add_rate_limited("a")
    assert clock.delays[-1] == 0.005


async def test_backoff_is_per_key() -> None:
    backoff: ExponentialBackoff[str] = ExponentialBackoff(base=1.0, cap=100.0)
    assert [backoff.when("a"), backoff.when("a"), backoff.when("a")] == [1.0, 2.0, 4.0]
    assert backoff.when("b") == 1.0
    for _ in range(2000):
        backoff.when("c")
    assert backoff.when("c") == 100.0


async def test_metrics_hooks_see_depth_and_add_to_get_latency() -> None:
    clock = ManualClock()
    metrics = RecordingMetrics()
    queue = make_queue(clock, metrics)
    queue.add("a")
    queue.add("b")
    assert metrics.depths[-1] == 2
    clock.advance(2.5)
    await queue.get()
    assert metrics.depths[-1] == 1
    assert metrics.latencies == [2.5]


async def test_shutdown_wakes_waiting_getters_ignores_adds_and_drops_delayed_keys() -> None:
    clock = ManualClock()
    queue = make_queue(clock)
    waiter = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    queue.add_after("later", 1)
    queue.shutdown()
    assert await asyncio.wait_for(waiter, 1) is None
    queue.add("a")
    clock.advance(5)
    assert len(queue) == 0
    assert await queue.get() is None


async def test_drain_waits_for_keys_in_processing() -> None:
    queue = make_queue(ManualClock())
    queue.add("a")
    assert await queue.get() == "a"
    queue.shutdown()
    drained = asyncio.create_task(queue.drain())
    await asyncio.sleep(0.01)
    assert not drained.done()
    queue.done("a")
    await asyncio.wait_for(drained, 1)


async def test_a_cancelled_getter_does_not_swallow_a_key() -> None:
    queue = make_queue(ManualClock())
    cancelled = asyncio.create_task(queue.get())
    other = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    queue.add("a")  # wakes ``cancelled`` first ...
    cancelled.cancel()  # ... which goes away before it runs
    assert await asyncio.wait_for(other, 1) == "a"
