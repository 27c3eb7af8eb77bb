"""LeaderElector against an in-memory Lease API with the server's optimistic concurrency."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tmc.errors import ConfigError
from tmc.kcp.rest import TransportError
from tmc.runtime import LeaderElector, LeadershipLostError
from tmc.runtime.leader import format_micro_time

from .fakes import FakeClock, FakeLeaseApi

FAST = {"lease_duration": 0.5, "renew_deadline": 0.1, "renew_interval": 0.01, "retry_period": 0.01}


def elector(api: FakeLeaseApi, identity: str, clock: FakeClock, **options: Any) -> LeaderElector:
    settings: dict[str, Any] = {"lease_duration": 15.0, "renew_deadline": 10.0, "renew_interval": 2.0}
    settings.update(options)
    return LeaderElector(api, name="tmc", namespace="kube-system", identity=identity, clock=clock, **settings)


async def test_an_absent_lease_is_created_with_us_as_holder() -> None:
    api, clock = FakeLeaseApi(), FakeClock()
    assert await elector(api, "a", clock).try_acquire_or_renew()
    spec = api.spec()
    assert spec["holderIdentity"] == "a"
    assert spec["leaseDurationSeconds"] == 15
    assert spec["leaseTransitions"] == 0
    assert spec["renewTime"] == spec["acquireTime"] == format_micro_time(clock.now)


async def test_a_lease_held_by_someone_else_and_not_expired_is_left_alone() -> None:
    api, clock = FakeLeaseApi(), FakeClock()
    api.put_holder("b", clock.now, duration=15)
    clock.advance(14.9)
    candidate = elector(api, "a", clock)
    assert not await candidate.try_acquire_or_renew()
    assert candidate.observed_holder == "b"
    assert api.spec()["holderIdentity"] == "b"


async def test_an_expired_lease_is_taken_over_and_counts_a_transition() -> None:
    api, clock = FakeLeaseApi(), FakeClock()
    api.put_holder("b", clock.now, duration=15)
    clock.advance(15.1)
    assert await elector(api, "a", clock).try_acquire_or_renew()
    spec = api.spec()
    assert (spec["holderIdentity"], spec["leaseTransitions"]) == ("a", 1)
    assert spec["acquireTime"] == format_micro_time(clock.now)


async def test_renewing_our_own_lease_moves_renew_time_but_not_acquire_time_or_transitions() -> None:
    api, clock = FakeLeaseApi(), FakeClock()
    candidate = elector(api, "a", clock)
    await candidate.try_acquire_or_renew()
    acquired = api.spec()["acquireTime"]
    clock.advance(2)
    assert await candidate.try_acquire_or_renew()
    spec = api.spec()
    assert spec["acquireTime"] == acquired
    assert spec["renewTime"] == format_micro_time(clock.now)
    assert spec["leaseTransitions"] == 0


async def test_losing_the_write_race_is_a_failed_attempt_not_an_error() -> None:
    api, clock = FakeLeaseApi(), FakeClock()
    api.put_holder("b", clock.now, duration=15)
    clock.advance(20)

    async def someone_writes_first() -> None:
        api.before_replace = None
        api.put_holder("c", clock.now)

    api.before_replace = someone_writes_first
    assert not await elector(api, "a", clock).try_acquire_or_renew()
    assert api.spec()["holderIdentity"] == "c"


async def test_two_candidates_creating_at_once_elect_exactly_one() -> None:
    api, clock = FakeLeaseApi(), FakeClock()
    results = await asyncio.gather(*(elector(api, name, clock).try_acquire_or_renew() for name in "abc"))
    assert sorted(results) == [False, False, True]


async def test_leading_ends_with_leadership_lost_when_another_holder_takes_the_lease() -> None:
    api, clock = FakeLeaseApi(), FakeClock()
    candidate = elector(api, "a", clock, **FAST)

    async def lead_until_lost() -> None:
        async with candidate.leading():
            assert candidate.is_leader
            api.put_holder("b", clock.now)
            await asyncio.wait_for(asyncio.Event().wait(), 1)

    with pytest.raises(LeadershipLostError):
        await lead_until_lost()
    assert not candidate.is_leader
    assert api.spec()["holderIdentity"] == "b", "a leader that lost must not release someone else's lease"


async def test_leading_ends_when_renewals_fail_past_the_deadline() -> None:
    api, clock = FakeLeaseApi(), FakeClock()
    candidate = elector(api, "a", clock, **FAST)
    loop = asyncio.get_running_loop()
    failing_since = 0.0

    async def lead_until_lost() -> None:
        nonlocal failing_since
        async with candidate.leading():
            api.fail_with = TransportError(0, "Unreachable", "refused")
            failing_since = loop.time()
            await asyncio.wait_for(asyncio.Event().wait(), 1)

    with pytest.raises(LeadershipLostError):
        await lead_until_lost()
    assert loop.time() - failing_since >= FAST["renew_deadline"] - 0.02


async def test_leaving_voluntarily_releases_the_lease_for_a_standby() -> None:
    api, clock = FakeLeaseApi(), FakeClock()
    async with elector(api, "a", clock, **FAST).leading():
        pass
    assert api.spec()["holderIdentity"] == ""
    assert await elector(api, "b", clock).try_acquire_or_renew(), "no need to wait for expiry"
    assert api.spec()["leaseTransitions"] == 1


async def test_run_calls_back_on_start_and_stop_and_cancels_the_work_when_leadership_is_lost() -> None:
    api, clock = FakeLeaseApi(), FakeClock()
    candidate = elector(api, "a", clock, **FAST)
    calls: list[str] = []
    cancelled = asyncio.Event()

    async def work() -> None:
        calls.append("started")
        api.put_holder("b", clock.now)
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    await asyncio.wait_for(candidate.run(work, lambda: calls.append("stopped")), 1)
    assert calls == ["started", "stopped"]
    assert cancelled.is_set()


async def test_a_standby_waits_and_takes_over_once_the_lease_expires() -> None:
    api, clock = FakeLeaseApi(), FakeClock()
    api.put_holder("b", clock.now, duration=15)
    candidate = elector(api, "a", clock, **FAST)
    acquiring = asyncio.create_task(candidate.acquire())
    await asyncio.sleep(0.05)
    assert not acquiring.done()
    clock.advance(16)
    await asyncio.wait_for(acquiring, 1)
    assert api.spec()["holderIdentity"] == "a"


@pytest.mark.parametrize(
    "timings",
    [
        pytest.param(
            {"lease_duration": 10, "renew_deadline": 10, "renew_interval": 2}, id="deadline not below duration"
        ),
        pytest.param(
            {"lease_duration": 15, "renew_deadline": 10, "renew_interval": 10}, id="interval not below deadline"
        ),
    ],
)
def test_inconsistent_timings_are_rejected(timings: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        elector(FakeLeaseApi(), "a", FakeClock(), **timings)
