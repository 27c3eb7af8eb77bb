"""LoopLag: a blocked event loop shows up as lost time, which is what keeps a busy controller from blaming a cluster."""

from __future__ import annotations

import asyncio
import contextlib
import time

from tmc.clusters.lag import LoopLag


async def test_time_the_loop_was_blocked_is_counted_as_lost() -> None:
    lag = LoopLag(interval=0.05)
    task = asyncio.create_task(lag.run())
    try:
        await asyncio.sleep(0.12)  # a few ticks on time
        started = asyncio.get_running_loop().time()
        time.sleep(0.4)  # noqa: ASYNC251 - blocking the loop is the point: a busy controller
        # The tick due during the block fired (or is overdue) at least 0.35 s late.
        assert lag.lost_since(started) >= 0.3
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
