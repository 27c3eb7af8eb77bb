"""The record of copies TMC gave up on: one registration status write per batch, however many callers.

When a cluster stays unreachable past the cleanup timeout, every workload deleted meanwhile gives up its copies
there at about the same moment (they were deleted together: a namespace or a workspace went). Each appended its
own entry with a status write of its own, and with every sync worker writing the same registration at once
nearly all of those writes conflicted and were retried on a fresh read: a storm of requests to kcp that kept
the workers from every other tenant's work. Here callers queue their entries per registration and whoever
holds the registration's lock writes everything queued so far in one write; the others find their entries
written when their turn comes. An entry is never dropped: a failed write puts its batch back for the next
holder (and the caller's error makes its reconcile retry).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable

from tmc.kcp.rest import JSON

Key = tuple[str, str]  # (logical cluster, registration name)
WriteBatch = Callable[[str, str, list[JSON]], Awaitable[None]]


class LeakLedger:
    def __init__(self, write: WriteBatch) -> None:
        self._write = write
        self._pending: defaultdict[Key, list[JSON]] = defaultdict(list)
        self._locks: defaultdict[Key, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def record(self, cluster: str, registration: str, entries: list[JSON]) -> None:
        """Returns once ``entries`` are in the registration's status (written by this call or a concurrent one)."""
        key = (cluster, registration)
        self._pending[key].extend(entries)
        # One lock per registration that ever leaked, kept: dropping it while a waiter is being woken would let
        # a newcomer write beside that waiter.
        async with self._locks[key]:
            batch = self._pending.pop(key, [])
            if batch:
                try:
                    await self._write(cluster, registration, batch)
                except BaseException:
                    self._pending[key][:0] = batch
                    raise
