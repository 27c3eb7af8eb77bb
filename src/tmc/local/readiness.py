"""Waiting for a freshly started server to answer, watching its process at the same time.

A server has no watch for its own readiness, so this is the one place that retries a request on an
interval: it stops at the first success, at the deadline, or as soon as the process exits.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from tmc.errors import ApiError
from tmc.kcp.rest import KubeClient
from tmc.local.process import ManagedProcess


async def wait_until(
    process: ManagedProcess,
    probe: Callable[[], Awaitable[bool]],
    *,
    what: str,
    timeout: float,
    interval: float = 0.25,
) -> None:
    deadline = time.monotonic() + timeout
    last_error = "no answer yet"
    while True:
        process.check_alive()
        try:
            if await probe():
                return
            last_error = "not ready"
        except ApiError as exc:
            last_error = exc.message
        if time.monotonic() >= deadline:
            raise process.failure(f"{what} not reached within {timeout:.0f}s ({last_error})")
        await asyncio.sleep(interval)


async def http_ok(client: KubeClient, path: str) -> bool:
    status, _ = await client.get_raw(path)
    return status == 200
