"""The one clock and the one backoff: Deadline, sleep and wait_event on a manual clock; backoff delays."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tmc.runtime.backoff import ExponentialBackoff
from tmc.runtime.clock import SYSTEM_CLOCK, Deadline, sleep, utc, wait_event

from .fakes import ManualClock, settle


async def test_sleep_ends_only_when_the_clock_has_moved_that_far() -> None:
    clock = ManualClock()
    sleeper = asyncio.create_task(sleep(clock, 5.0))
    await settle()
    clock.advance(4.9)
    await settle()
    assert not sleeper.done()
    clock.advance(0.1)
    await asyncio.wait_for(sleeper, 1)


async def test_a_deadline_cancels_the_body_and_raises_timeout() -> None:
    clock = ManualClock()

    async def body() -> None:
        async with Deadline(clock, 2.0):
            await asyncio.Event().wait()

    task = asyncio.create_task(body())
    await settle()
    clock.advance(2.0)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(task, 1)


async def test_rescheduling_a_deadline_moves_it() -> None:
    clock = ManualClock()
    progressed = asyncio.Event()
    expired = False

    async def body() -> None:
        nonlocal expired
        try:
            async with Deadline(clock, 1.0) as deadline:
                await progressed.wait()
                deadline.reschedule(1.0)
                await asyncio.Event().wait()
        except TimeoutError:
            expired = True

    task = asyncio.create_task(body())
    await settle()
    clock.advance(0.9)
    progressed.set()
    await settle()
    clock.advance(0.9)  # 1.8 s after the start, 0.9 s after the reschedule
    await settle()
    assert not task.done()
    clock.advance(0.2)
    await asyncio.wait_for(task, 1)
    assert expired


async def test_an_outside_cancellation_inside_a_deadline_stays_a_cancellation() -> None:
    clock = ManualClock()

    async def body() -> None:
        async with Deadline(clock, 10.0):
            await asyncio.Event().wait()

    task = asyncio.create_task(body())
    await settle()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_wait_event_returns_true_when_set_and_false_on_timeout() -> None:
    clock = ManualClock()
    event = asyncio.Event()
    waiting = asyncio.create_task(wait_event(clock, event, 3.0))
    await settle()
    event.set()
    assert await asyncio.wait_for(waiting, 1) is True
    event.clear()
    waiting = asyncio.create_task(wait_event(clock, event, 3.0))
    await settle()
    clock.advance(3.0)
    assert await asyncio.wait_for(waiting, 1) is False


async def test_the_system_clock_is_the_event_loops() -> None:
    loop = asyncio.get_running_loop()
    assert abs(SYSTEM_CLOCK.monotonic() - loop.time()) < 0.01
    assert utc(SYSTEM_CLOCK).tzinfo is not None


def test_backoff_doubles_per_key_up_to_the_cap_and_forget_starts_over() -> None:
    backoff: ExponentialBackoff[str] = ExponentialBackoff(base=1.0, cap=5.0)
    assert [backoff.when("a") for _ in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert backoff.when("b") == 1.0
    assert backoff.retries("a") == 5
    backoff.forget("a")
    assert backoff.when("a") == 1.0


def test_backoff_jitter_adds_at_most_its_fraction() -> None:
    backoff: ExponentialBackoff[str] = ExponentialBackoff(base=1.0, cap=8.0, jitter=0.5, rand=lambda: 1.0)
    assert [backoff.when("a") for _ in range(3)] == [1.5, 3.0, 6.0]
    low: ExponentialBackoff[str] = ExponentialBackoff(base=1.0, cap=8.0, jitter=0.5, rand=lambda: 0.0)
    assert low.when("a") == 1.0


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"base": 0.0, "cap": 1.0}, id="base must be positive"),
        pytest.param({"base": 2.0, "cap": 1.0}, id="cap below base"),
        pytest.param({"base": 1.0, "cap": 2.0, "jitter": -0.1}, id="negative jitter"),
    ],
)
def test_backoff_rejects_nonsense(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="backoff"):
        ExponentialBackoff(**options)
