"""One endpoint's heartbeat: one request per beat, facts on a slower timer, changes told only when they happen."""

from __future__ import annotations

import httpx

from tmc.clusters import Endpoint, ProbeSettings
from tmc.clusters.probe import MAX_MESSAGE

from ._fakes import FakeCluster, FixedLag, ManualClock, discovery, endpoint


async def test_the_first_probe_reads_facts_then_each_heartbeat_is_one_liveness_request() -> None:
    cluster, clock, changes = FakeCluster(), ManualClock(), list[Endpoint]()
    probe = endpoint(cluster, clock, on_change=changes.append)
    delay = await probe.probe_once()
    assert delay == 10.0
    assert probe.state is not None
    assert probe.state.usable
    assert probe.state.facts is not None
    assert probe.state.facts.kubernetes_version == "v1.36.3"
    assert "deployments.apps/v1" in probe.state.facts.api_resources
    assert "pods/status/v1" not in probe.state.facts.api_resources  # subresources are not resources
    assert (probe.state.facts.node_count, probe.state.facts.allocatable_cpu_millis) == (2, 8000)
    assert len(changes) == 1
    first = sum(cluster.requests.values())

    for _ in range(5):
        clock.advance(10)
        await probe.probe_once()
    assert sum(cluster.requests.values()) - first == 5
    assert cluster.requests["/readyz"] == 6
    assert len(changes) == 1  # live and unchanged: nobody is told
    assert probe.state.last_success == clock.now


async def test_facts_are_refreshed_after_the_facts_period_and_a_change_is_told() -> None:
    cluster, clock, changes = FakeCluster(), ManualClock(), list[Endpoint]()
    probe = endpoint(cluster, clock, on_change=changes.append)
    await probe.probe_once()
    cluster.answers["/version"] = {"gitVersion": "v1.37.0"}
    clock.advance(299)
    await probe.probe_once()
    assert cluster.requests["/version"] == 1
    clock.advance(2)
    await probe.probe_once()
    assert cluster.requests["/version"] == 2
    assert probe.state is not None
    assert probe.state.facts is not None
    assert probe.state.facts.kubernetes_version == "v1.37.0"
    assert len(changes) == 2


async def test_a_failure_is_told_keeps_the_last_success_and_recovery_rereads_facts() -> None:
    cluster, clock, changes = FakeCluster(), ManualClock(), list[Endpoint]()
    probe = endpoint(cluster, clock, on_change=changes.append)
    await probe.probe_once()
    live_at = clock.now
    cluster.fail_with = httpx.ConnectError("connection refused")
    clock.advance(10)
    await probe.probe_once()
    assert probe.state is not None
    assert not probe.state.usable
    assert probe.state.reason == "Unreachable"
    assert probe.state.last_success == live_at
    assert len(changes) == 2
    clock.advance(10)
    await probe.probe_once()
    assert len(changes) == 2  # still down, same message: no news
    cluster.fail_with = None
    clock.advance(10)
    await probe.probe_once()
    assert probe.state.usable
    assert cluster.requests["/version"] == 2
    assert len(changes) == 3


async def test_a_timeout_while_the_event_loop_was_busy_is_inconclusive() -> None:
    cluster, clock, changes, lag = FakeCluster(), ManualClock(), list[Endpoint](), FixedLag()
    probe = endpoint(cluster, clock, lag=lag, on_change=changes.append)
    await probe.probe_once()
    cluster.fail_with = httpx.ReadTimeout("timed out")
    lag.lost = 3.0  # the loop lost 3 s of the 5 s deadline
    delay = await probe.probe_once()
    assert probe.state is not None
    assert probe.state.usable
    assert probe.inconclusive == 1
    assert delay < 10
    assert len(changes) == 1
    lag.lost = 0.0  # an idle loop: the cluster really did not answer
    await probe.probe_once()
    assert probe.state.reason == "Timeout"
    assert len(changes) == 2


async def test_rejected_credentials_read_as_unauthorized() -> None:
    cluster, clock = FakeCluster(), ManualClock()
    cluster.readyz = (401, '{"kind":"Status","message":"Unauthorized"}')
    probe = endpoint(cluster, clock)
    await probe.probe_once()
    assert probe.state is not None
    assert probe.state.liveness.unauthorized
    assert cluster.requests["/version"] == 0


async def test_what_a_hostile_cluster_answers_is_bounded() -> None:
    cluster, clock = FakeCluster(), ManualClock()
    cluster.answers["/version"] = {"gitVersion": "<script>alert(1)</script>"}
    cluster.answers["/apis/apps/v1"] = discovery(*[f"r{i}" for i in range(1000)], "Bad_Name", "x" * 300)
    probe = endpoint(cluster, clock)
    await probe.probe_once()
    assert probe.state is not None
    assert probe.state.facts is not None
    assert probe.state.facts.kubernetes_version is None
    apps = [name for name in probe.state.facts.api_resources if name.endswith(".apps/v1")]
    assert len(apps) == 128
    assert not any(name.startswith(("Bad_Name", "xxx")) for name in apps)

    cluster.readyz = (500, "\x1b[31m" + "evil " * 1000 + "\n[+]ping ok")
    clock.advance(10)
    await probe.probe_once()
    assert probe.state.reason == "NotReady"
    assert len(probe.state.message) <= MAX_MESSAGE
    assert "\x1b" not in probe.state.message
    assert "\n" not in probe.state.message


async def test_a_node_list_that_does_not_finish_leaves_capacity_unknown_not_the_cluster_broken() -> None:
    cluster, clock = FakeCluster(), ManualClock()
    cluster.hang.add("/api/v1/nodes")
    probe = endpoint(cluster, clock, settings=ProbeSettings(probe_timeout=0.05, jitter=0.0))
    await probe.probe_once()
    assert probe.state is not None
    assert probe.state.usable
    assert probe.state.facts is not None
    assert probe.state.facts.node_count is None
    assert probe.state.facts.kubernetes_version == "v1.36.3"
