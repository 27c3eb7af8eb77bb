"""The one clock of the runtime: monotonic time, wall time and timers behind one small interface.

Every piece of the runtime that measures, waits or schedules (queue delays, informer backoff and watch
watchdog, lease expiry and renew deadlines, reconcile durations) takes a ``Clock`` instead of calling
``loop.time``, ``time.time`` or ``asyncio.sleep`` itself, so

- there is exactly one notion of "now" per process (no module disagrees with another about elapsed time);
- tests drive all of it with one manual clock (``tests/unit/runtime/fakes.ManualClock``).

``monotonic()`` measures durations and deadlines (never compared across processes); ``wall()`` is only for
timestamps written into objects for humans and other implementations (a Lease's ``renewTime``, a condition's
``lastTransitionTime``). ``SystemClock.monotonic`` is the event loop's clock, so ``call_later`` deadlines and
``monotonic()`` agree.

Helpers built on any ``Clock``: ``sleep``, ``wait_event`` (an ``asyncio.Event`` or a timeout) and ``Deadline``
(like ``asyncio.timeout``: cancels the body when the clock passes the deadline, raises ``TimeoutError``;
``reschedule`` moves it, which the informer's watch watchdog uses on every event).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import Protocol


class Cancellable(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that never jumps; only differences mean anything."""
        ...

    def wall(self) -> float:
        """Seconds since the epoch (UTC), for timestamps written into objects."""
        ...

    def call_later(self, delay: float, callback: Callable[[], None]) -> Cancellable:
        """Run ``callback`` once ``delay`` seconds of ``monotonic`` time have passed."""
        ...


class SystemClock:
    """The event loop's clock and timers, and the system's wall clock."""

    def monotonic(self) -> float:
        return asyncio.get_running_loop().time()

    def wall(self) -> float:
        return time.time()

    def call_later(self, delay: float, callback: Callable[[], None]) -> Cancellable:
        return asyncio.get_running_loop().call_later(max(delay, 0.0), callback)


SYSTEM_CLOCK: Clock = SystemClock()


def utc(clock: Clock) -> datetime:
    """The clock's wall time as an aware UTC datetime."""
    return datetime.fromtimestamp(clock.wall(), UTC)


async def sleep(clock: Clock, delay: float) -> None:
    """``asyncio.sleep`` on ``clock``'s timers."""
    if delay <= 0:
        await asyncio.sleep(0)
        return
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def wake() -> None:
        if not future.done():
            future.set_result(None)

    handle = clock.call_later(delay, wake)
    try:
        await future
    finally:
        handle.cancel()


async def wait_event(clock: Clock, event: asyncio.Event, timeout: float) -> bool:
    """Wait until ``event`` is set (True) or ``timeout`` seconds pass (False)."""
    if event.is_set():
        return True
    try:
        async with Deadline(clock, timeout):
            await event.wait()
    except TimeoutError:
        return event.is_set()
    return True


class Deadline:
    """``async with Deadline(clock, seconds):`` cancels the body after ``seconds``; raises ``TimeoutError``.

    The same protocol as ``asyncio.timeout`` (cancel the task, then ``uncancel`` on the way out so that a
    cancellation from outside is never mistaken for the deadline, nor swallowed).
    """

    def __init__(self, clock: Clock, delay: float) -> None:
        self._clock = clock
        self._when = clock.monotonic() + delay
        self._handle: Cancellable | None = None
        self._task: asyncio.Task[object] | None = None
        self._expired = False
        self._cancelling = 0

    @property
    def expired(self) -> bool:
        return self._expired

    def reschedule(self, delay: float) -> None:
        """Move the deadline to ``delay`` seconds from now (cheap: the timer re-arms lazily)."""
        self._when = self._clock.monotonic() + delay

    async def __aenter__(self) -> Deadline:
        self._task = asyncio.current_task()
        if self._task is None:
            raise RuntimeError("Deadline must be used inside a task")
        self._cancelling = self._task.cancelling()
        self._arm()
        return self

    def _arm(self) -> None:
        self._handle = self._clock.call_later(self._when - self._clock.monotonic(), self._fire)

    def _fire(self) -> None:
        if self._clock.monotonic() < self._when:  # rescheduled meanwhile
            self._arm()
            return
        self._expired = True
        assert self._task is not None
        self._task.cancel()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._handle is not None:
            self._handle.cancel()
        if not self._expired or self._task is None:
            return
        # Balance our own cancel(); only if nobody else cancelled too is this a timeout rather than a stop.
        if self._task.uncancel() <= self._cancelling and exc_type is asyncio.CancelledError:
            raise TimeoutError from exc
