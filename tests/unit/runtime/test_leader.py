"""LeaderElector against an in-memory Lease API with the server's optimistic concurrency, on a manual clock."""

from __future__ import annotations

import asyncio
import socket
from datetime import timedelta
from typing import Any

import pytest

from tmc.errors import ConfigError
from tmc.kcp.rest import TransportError
from tmc.runtime import LeaderElector, LeadershipLostError, RuntimeMetrics
from tmc.runtime.leader import default_identity, format_micro_time

from .fakes import FakeLeaseApi, ManualClock, settle

TIMINGS: dict[str, Any] = {"lease_duration": 15.0, "renew_deadline": 10.0, "retry_period": 2.0}


def elector(api: FakeLeaseApi, identity: str, clock: ManualClock, **options: Any) -> LeaderElector:
    settings: dict[str, Any] = dict(TIMINGS)
    settings.update(options)
    return LeaderElector(api, name="tmc", namespace="kube-system", identity=identity, clock=clock, **settings)


def lease_of(api: FakeLeaseApi) -> dict[str, Any]:
    return {"metadata": {"name": "tmc"}, "spec": api.spec()}


async def test_an_absent_lease_is_created_with_us_as_holder() -> None:
    api, clock = FakeLeaseApi(), ManualClock()
    assert await elector(api, "a", clock).try_acquire_or_renew()
    spec = api.spec()
    assert spec["holderIdentity"] == "a"
    assert spec["leaseDurationSeconds"] == 15
    assert spec["leaseTransitions"] == 0
    assert spec["renewTime"] == spec["acquireTime"] == format_micro_time(clock.utc())


async def test_a_held_lease_expires_only_a_full_duration_after_we_saw_it_change_whatever_its_timestamps_say() -> None:
    api, clock = FakeLeaseApi(), ManualClock()
    api.put_holder("b", clock.utc() - timedelta(hours=1), duration=15)  # renewTime long past: means nothing here
    candidate = elector(api, "a", clock)
    assert not await candidate.try_acquire_or_renew(), "first sight: the holder gets a full duration"
    assert candidate.observed_holder == "b"
    clock.advance(14.9)
    assert not await candidate.try_acquire_or_renew()
    clock.advance(0.1)
    assert await candidate.try_acquire_or_renew()
    spec = api.spec()
    assert (spec["holderIdentity"], spec["leaseTransitions"]) == ("a", 1)
    assert spec["acquireTime"] == format_micro_time(clock.utc())


async def test_a_lease_renewed_with_timestamps_from_a_skewed_clock_is_still_respected() -> None:
    api, clock = FakeLeaseApi(), ManualClock()
    candidate = elector(api, "a", clock)
    skewed = clock.utc() - timedelta(minutes=10)  # the holder's clock is 10 minutes behind
    for tick in range(10):
        api.put_holder("b", skewed + timedelta(seconds=2 * tick), duration=15)
        assert not await candidate.try_acquire_or_renew(), "a holder that keeps renewing is never expired"
        clock.advance(2)
    assert api.spec()["holderIdentity"] == "b"


async def test_renewing_our_own_lease_moves_renew_time_but_not_acquire_time_or_transitions() -> None:
    api, clock = FakeLeaseApi(), ManualClock()
    candidate = elector(api, "a", clock)
    await candidate.try_acquire_or_renew()
    acquired = api.spec()["acquireTime"]
    clock.advance(2)
    assert await candidate.try_acquire_or_renew()
    spec = api.spec()
    assert spec["acquireTime"] == acquired
    assert spec["renewTime"] == format_micro_time(clock.utc())
    assert spec["leaseTransitions"] == 0


async def test_losing_the_write_race_is_a_failed_attempt_not_an_error() -> None:
    api, clock = FakeLeaseApi(), ManualClock()
    api.put_holder("b", clock.utc(), duration=15)
    candidate = elector(api, "a", clock)
    await candidate.try_acquire_or_renew()
    clock.advance(20)

    async def someone_writes_first() -> None:
        api.before_replace = None
        api.put_holder("c", clock.utc())

    api.before_replace = someone_writes_first
    assert not await candidate.try_acquire_or_renew()
    assert api.spec()["holderIdentity"] == "c"


async def test_two_candidates_creating_at_once_elect_exactly_one() -> None:
    api, clock = FakeLeaseApi(), ManualClock()
    results = await asyncio.gather(*(elector(api, name, clock).try_acquire_or_renew() for name in "abc"))
    assert sorted(results) == [False, False, True]


class Link:
    """One candidate's connection to a shared ``FakeLeaseApi``, which a test can cut (a network partition)."""

    def __init__(self, api: FakeLeaseApi) -> None:
        self.api = api
        self.cut = False

    def _check(self) -> None:
        if self.cut:
            raise TransportError(0, "Unreachable", "partitioned")

    async def get(self, *args: Any, **kwargs: Any) -> Any:
        self._check()
        return await self.api.get(*args, **kwargs)

    async def create(self, *args: Any, **kwargs: Any) -> Any:
        self._check()
        return await self.api.create(*args, **kwargs)

    async def replace(self, *args: Any, **kwargs: Any) -> Any:
        self._check()
        return await self.api.replace(*args, **kwargs)


async def test_a_leader_that_cannot_renew_stops_before_a_standby_can_take_over() -> None:
    """The no-double-leader argument, played out: the leader is cut off, the standby is not."""
    api, clock = FakeLeaseApi(), ManualClock()
    leader_link, standby_link = Link(api), Link(api)
    leader = LeaderElector(leader_link, name="tmc", namespace="kube-system", identity="a", clock=clock, **TIMINGS)
    standby = LeaderElector(standby_link, name="tmc", namespace="kube-system", identity="b", clock=clock, **TIMINGS)
    await leader.acquire()
    lost_at: list[float] = []
    renewing = asyncio.create_task(leader.keep_leading(lambda: lost_at.append(clock.now)))
    acquiring = asyncio.create_task(standby.acquire())
    await clock.run_for(7.0)  # healthy renewals, observed by the standby's reads
    assert leader.holds_lease()
    assert not acquiring.done()
    leader_link.cut = True
    cut_at = clock.now
    while not acquiring.done():
        await clock.run_for(0.25)
    standby_led_at = clock.now
    await renewing
    assert lost_at, "the leader noticed"
    assert lost_at[0] <= cut_at + TIMINGS["renew_deadline"]
    assert lost_at[0] < standby_led_at, "never two leaders"
    assert standby_led_at - cut_at <= TIMINGS["lease_duration"] + TIMINGS["retry_period"] + 0.25
    assert not leader.is_leader
    assert standby.is_leader


async def test_holds_lease_is_false_past_the_deadline_even_before_the_renew_loop_runs() -> None:
    """A frozen process (SIGSTOP) that resumes late must not write: the fence is the monotonic clock."""
    api, clock = FakeLeaseApi(), ManualClock()
    candidate = elector(api, "a", clock)
    await candidate.acquire()
    assert candidate.holds_lease()
    clock.advance(TIMINGS["renew_deadline"] - 0.01)
    assert candidate.holds_lease()
    clock.advance(0.02)  # no task ran in between
    assert candidate.is_leader, "the renew loop has not looked yet"
    assert not candidate.holds_lease()


async def test_leading_ends_with_leadership_lost_when_another_holder_takes_the_lease() -> None:
    api, clock = FakeLeaseApi(), ManualClock()
    candidate = elector(api, "a", clock)

    async def lead_until_lost() -> None:
        async with candidate.leading():
            assert candidate.is_leader
            api.put_holder("b", clock.utc())
            candidate.observe(lease_of(api))  # the Lease watch delivers it: no need to wait for a renewal
            await asyncio.Event().wait()

    with pytest.raises(LeadershipLostError):
        await asyncio.wait_for(lead_until_lost(), 1)
    assert clock.now == 0.0, "noticed at once, without any time passing"
    assert not candidate.is_leader
    assert api.spec()["holderIdentity"] == "b", "a leader that lost must not release someone else's lease"


async def test_our_own_renewals_seen_through_the_watch_do_not_make_the_leader_renew_in_a_loop() -> None:
    api, clock = FakeLeaseApi(), ManualClock()
    candidate = elector(api, "a", clock)
    await candidate.acquire()
    renewals = 0
    real_replace = api.replace

    async def counting_replace(*args: Any, **kwargs: Any) -> Any:
        nonlocal renewals
        renewals += 1
        result = await real_replace(*args, **kwargs)
        candidate.observe({"spec": result["spec"]})
        return result

    api.replace = counting_replace  # type: ignore[method-assign]
    renewing = asyncio.create_task(candidate.keep_leading(lambda: None))
    await clock.run_for(10.0)
    renewing.cancel()
    assert 4 <= renewals <= 6, f"one renewal per retry period, got {renewals}"


async def test_leading_ends_when_renewals_fail_past_the_deadline() -> None:
    api, clock = FakeLeaseApi(), ManualClock()
    candidate = elector(api, "a", clock)
    failing_since = 0.0

    async def lead_until_lost() -> None:
        nonlocal failing_since
        async with candidate.leading():
            api.fail_with = TransportError(0, "Unreachable", "refused")
            failing_since = clock.now
            await asyncio.Event().wait()

    lost = asyncio.create_task(lead_until_lost())
    while not lost.done():
        await clock.run_for(0.5)
    with pytest.raises(LeadershipLostError):
        await lost
    assert failing_since + TIMINGS["renew_deadline"] - TIMINGS["retry_period"] <= clock.now
    assert clock.now <= failing_since + TIMINGS["renew_deadline"] + 0.5


async def test_leaving_voluntarily_releases_the_lease_and_a_watching_standby_takes_over_at_once() -> None:
    api, clock = FakeLeaseApi(), ManualClock()
    standby = elector(api, "b", clock)
    async with elector(api, "a", clock).leading():
        acquiring = asyncio.create_task(standby.acquire())
        await settle()
        standby.observe(lease_of(api))
        await settle()
        assert not acquiring.done()
    assert api.spec()["holderIdentity"] == ""
    standby.observe(lease_of(api))  # the watch delivers the release
    await asyncio.wait_for(acquiring, 1)
    assert clock.now == 0.0, "no waiting for expiry after a release"
    assert api.spec()["leaseTransitions"] == 1


async def test_a_watching_standby_does_not_poll_and_wakes_exactly_when_the_lease_expires() -> None:
    api, clock = FakeLeaseApi(), ManualClock()
    api.put_holder("b", clock.utc(), duration=15)
    standby = elector(api, "a", clock)
    standby.observe(lease_of(api))
    reads = 0
    real_get = api.get

    async def counting_get(*args: Any, **kwargs: Any) -> Any:
        nonlocal reads
        reads += 1
        return await real_get(*args, **kwargs)

    api.get = counting_get  # type: ignore[method-assign]
    acquiring = asyncio.create_task(standby.acquire())
    await clock.run_for(14.5)
    assert reads == 1, "one read to start with, then it sleeps until expiry"
    while not acquiring.done():
        await clock.run_for(0.05)
    assert 15.0 <= clock.now <= 15.1
    assert api.spec()["holderIdentity"] == "a"


async def test_a_standby_without_a_watch_rereads_every_retry_period() -> None:
    api, clock = FakeLeaseApi(), ManualClock()
    api.put_holder("b", clock.utc(), duration=15)
    standby = elector(api, "a", clock)
    acquiring = asyncio.create_task(standby.acquire())
    await clock.run_for(6.1)
    assert not acquiring.done()
    api.put_holder("c", clock.utc(), duration=15)  # a change seen at the next read restarts the wait
    await clock.run_for(14.0)
    assert not acquiring.done()
    while not acquiring.done():
        await clock.run_for(0.5)
    assert 21.0 <= clock.now <= 24.0
    assert api.spec()["holderIdentity"] == "a"


async def test_run_calls_back_on_start_and_stop_and_cancels_the_work_when_leadership_is_lost() -> None:
    api, clock = FakeLeaseApi(), ManualClock()
    candidate = elector(api, "a", clock)
    calls: list[str] = []
    cancelled = asyncio.Event()

    async def work() -> None:
        calls.append("started")
        api.put_holder("b", clock.utc())
        candidate.observe(lease_of(api))
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    await asyncio.wait_for(candidate.run(work, lambda: calls.append("stopped")), 1)
    assert calls == ["started", "stopped"]
    assert cancelled.is_set()


async def test_the_leader_gauge_and_lost_counter_follow_leadership() -> None:
    api, clock, metrics = FakeLeaseApi(), ManualClock(), RuntimeMetrics()
    candidate = elector(api, "a", clock, metrics=metrics)

    def sample(name: str) -> float | None:
        return metrics.registry.get_sample_value(name, {"lease": "tmc"})

    await candidate.acquire()
    assert sample("tmc_leader") == 1
    api.put_holder("b", clock.utc())
    candidate.observe(lease_of(api))
    await asyncio.wait_for(candidate.keep_leading(lambda: None), 1)
    assert sample("tmc_leader") == 0
    assert sample("tmc_leader_lost_total") == 1


def test_the_default_identity_is_the_hostname_with_a_random_suffix() -> None:
    first, second = default_identity(), default_identity()
    assert first.startswith(socket.gethostname() + "_")
    assert first != second
    assert LeaderElector(FakeLeaseApi(), name="tmc", namespace="x").identity.startswith(socket.gethostname())


@pytest.mark.parametrize(
    "timings",
    [
        pytest.param({"lease_duration": 10, "renew_deadline": 10, "retry_period": 2}, id="deadline not below duration"),
        pytest.param({"lease_duration": 15, "renew_deadline": 10, "retry_period": 10}, id="retry not below deadline"),
        pytest.param({"lease_duration": 15, "renew_deadline": 10, "retry_period": 0}, id="retry period zero"),
    ],
)
def test_inconsistent_timings_are_rejected(timings: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        elector(FakeLeaseApi(), "a", ManualClock(), **timings)


def test_an_empty_identity_is_rejected() -> None:
    with pytest.raises(ConfigError, match="identity"):
        elector(FakeLeaseApi(), " ", ManualClock())


async def test_an_unexpected_error_while_renewing_is_logged_and_still_ends_leadership_by_the_deadline(
    caplog: pytest.LogCaptureFixture,
) -> None:
    api, clock = FakeLeaseApi(), ManualClock()
    candidate = elector(api, "a", clock)
    await candidate.acquire()
    api.fail_with = RuntimeError("a bug in the client")
    lost_at: list[float] = []
    renewing = asyncio.create_task(candidate.keep_leading(lambda: lost_at.append(clock.now)))
    while not renewing.done():
        await clock.run_for(0.5)
    assert lost_at
    assert lost_at[0] <= TIMINGS["renew_deadline"]
    assert any(r.exc_info for r in caplog.records if "renewing failed unexpectedly" in r.getMessage())


class SwallowingLink(Link):
    """A renewal that hangs and, when its task is cancelled, fails as a request error instead (as a failing
    request on its way may do): the renewer would log it and carry on renewing."""

    def __init__(self, api: FakeLeaseApi) -> None:
        super().__init__(api)
        self.hanging = asyncio.Event()

    async def get(self, *args: Any, **kwargs: Any) -> Any:
        if not self.cut:
            return await super().get(*args, **kwargs)
        self.hanging.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise TransportError(0, "Unreachable", "All connection attempts failed") from None


async def test_stopping_the_renewer_ends_it_even_when_its_request_swallows_the_cancellation() -> None:
    api, clock = FakeLeaseApi(), ManualClock()
    link = SwallowingLink(api)
    candidate = elector(api, "a", clock)
    candidate.client = link
    await candidate.acquire()
    link.cut = True
    renewer = asyncio.create_task(candidate.keep_leading(lambda: None))
    while not link.hanging.is_set():
        await clock.run_for(0.5)  # until the renewal is in flight, hanging

    await asyncio.wait_for(candidate.stop_renewing(renewer), 1)

    assert renewer.cancelled()
