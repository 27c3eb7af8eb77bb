"""A reconcile never waits for a busy cluster: it parks its key and is woken when one of the cluster's slots frees.

Each cluster has a few slots (``ClusterClients.limiter``: sync sessions in flight per cluster). Waiting for one
inside a reconcile holds a sync worker for as long as the cluster keeps its slots busy, and a slow or hanging
cluster with a backlog soon holds every worker: the other clusters' work then waits behind it (measured by
tests/e2e/test_faults.py with a cluster 1 s away each way: a fast cluster's create -> copy went from 0.5 s to 36 s).
So a slot is taken only if one is free at once; otherwise the key is parked (first come, first served) and the
reconcile reports the cluster as waiting, writing nothing it has not done. Each slot released wakes the first
parked key (it is enqueued again, behind what is queued for other clusters); a woken key that finds nothing to
do there passes the turn on (``passed``), and the reconcile's own requeue covers a woken key that vanished.
A slow cluster then holds at most its own slot count of workers.

Without ``wake`` (unit tests that drive one reconcile at a time) a reconcile waits for the slot, as before.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from tmc.runtime import ObjectKey


class ClusterSlots:
    def __init__(self, wake: Callable[[ObjectKey], None] | None = None) -> None:
        self._wake = wake
        # limiter -> parked keys, in arrival order (a dict as an ordered set)
        self._parked: dict[asyncio.Semaphore, dict[ObjectKey, None]] = {}
        self._woken: dict[ObjectKey, asyncio.Semaphore] = {}

    @contextlib.asynccontextmanager
    async def slot(self, limiter: asyncio.Semaphore, key: ObjectKey) -> AsyncIterator[bool]:
        """Yields True holding one of ``limiter``'s slots, or False (at once) with ``key`` parked."""
        if self._wake is None:
            async with limiter:
                yield True
            return
        if limiter.locked():
            self._parked.setdefault(limiter, {}).setdefault(key, None)
            yield False
            return
        parked = self._parked.get(limiter)
        if parked:
            parked.pop(key, None)
        self._woken.pop(key, None)
        await limiter.acquire()  # free: does not wait
        try:
            yield True
        finally:
            limiter.release()
            self._wake_next(limiter)

    def passed(self, limiter: asyncio.Semaphore, key: ObjectKey) -> None:
        """``key`` did not need the slot it may have been woken for: the next parked key gets the turn."""
        if self._woken.get(key) is limiter:
            del self._woken[key]
            self._wake_next(limiter)

    def forget(self, key: ObjectKey) -> None:
        """``key``'s binding is gone: it takes no turn any more."""
        limiter = self._woken.pop(key, None)
        if limiter is not None:
            self._wake_next(limiter)
        for keys in self._parked.values():
            keys.pop(key, None)

    def parked(self) -> int:
        return sum(len(keys) for keys in self._parked.values())

    def _wake_next(self, limiter: asyncio.Semaphore) -> None:
        parked = self._parked.get(limiter)
        if not parked:
            self._parked.pop(limiter, None)
            return
        key = next(iter(parked))
        del parked[key]
        self._woken[key] = limiter
        assert self._wake is not None
        self._wake(key)
