"""Leaked-copy records: many callers at once make one or two status writes per registration, and none is lost."""

from __future__ import annotations

import asyncio

import pytest

from tmc.controllers.sync.leaks import LeakLedger
from tmc.kcp.rest import JSON


class Registrations:
    """A registration status store whose writes take a moment (so callers pile up behind the first)."""

    def __init__(self, failures: int = 0) -> None:
        self.written: dict[tuple[str, str], list[JSON]] = {}
        self.writes = 0
        self.failures = failures

    async def write(self, cluster: str, registration: str, batch: list[JSON]) -> None:
        self.writes += 1
        await asyncio.sleep(0)
        if self.failures:
            self.failures -= 1
            raise ConnectionError("kcp closed the connection")
        self.written.setdefault((cluster, registration), []).extend(batch)


def leak(i: int) -> JSON:
    return {"kind": "Deployment", "name": f"w{i:03d}"}


async def test_a_hundred_callers_at_once_make_two_writes_and_every_entry_is_written() -> None:
    store = Registrations()
    ledger = LeakLedger(store.write)

    await asyncio.gather(*(ledger.record("tenant", "west", [leak(i)]) for i in range(100)))

    assert store.writes == 2, "the first caller's own entry, then everything queued behind it"
    assert sorted(e["name"] for e in store.written[("tenant", "west")]) == [f"w{i:03d}" for i in range(100)]


async def test_registrations_are_written_apart() -> None:
    store = Registrations()
    ledger = LeakLedger(store.write)
    await asyncio.gather(ledger.record("tenant", "west", [leak(1)]), ledger.record("other", "west", [leak(2)]))
    assert store.written == {("tenant", "west"): [leak(1)], ("other", "west"): [leak(2)]}


async def test_a_failed_write_keeps_its_batch_for_the_next_holder() -> None:
    store = Registrations(failures=1)
    ledger = LeakLedger(store.write)

    results = await asyncio.gather(
        *(ledger.record("tenant", "west", [leak(i)]) for i in range(3)), return_exceptions=True
    )

    assert isinstance(results[0], ConnectionError), "the caller whose write failed retries its reconcile"
    assert results[1:] == [None, None]
    assert sorted(e["name"] for e in store.written[("tenant", "west")]) == ["w000", "w001", "w002"]


async def test_a_cancelled_writer_loses_nothing() -> None:
    store = Registrations()
    ledger = LeakLedger(store.write)
    first = asyncio.create_task(ledger.record("tenant", "west", [leak(0)]))
    await asyncio.sleep(0)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    await ledger.record("tenant", "west", [leak(1)])
    assert sorted(e["name"] for e in store.written[("tenant", "west")]) == ["w000", "w001"]
