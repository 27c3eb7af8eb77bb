"""How late the event loop has been running, so a busy controller is not mistaken for a dead cluster.

A probe's deadline is measured on the same event loop that has to read the answer. When the loop is busy
(a relist of thousands of objects, a burst of reconciles), a healthy cluster's answer can sit unread past the
deadline. ``LoopLag`` ticks a timer and adds up how late each tick fired; a probe that timed out while the
loop lost more than a share of the deadline is *inconclusive*: not counted as a failure, retried soon.
"""

from __future__ import annotations

import asyncio
from collections import deque


class LoopLag:
    def __init__(self, *, interval: float = 0.2, window: float = 120.0) -> None:
        self.interval = interval
        self.window = window
        self._samples: deque[tuple[float, float]] = deque()  # (when the tick fired, how late it was)
        self._next_tick: float | None = None

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._next_tick = loop.time() + self.interval
            await asyncio.sleep(self.interval)
            now = loop.time()
            self._samples.append((now, max(0.0, now - self._next_tick)))
            while self._samples and self._samples[0][0] < now - self.window:
                self._samples.popleft()

    def lost_since(self, since: float) -> float:
        """Seconds the loop ran late since ``since`` (``loop.time()``), including a tick overdue right now."""
        now = asyncio.get_running_loop().time()
        lost = sum(late for when, late in self._samples if when >= since)
        if self._next_tick is not None and now > self._next_tick:
            lost += now - self._next_tick
        return lost
