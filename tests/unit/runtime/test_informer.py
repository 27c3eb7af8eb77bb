"""Informer: list + watch into a cluster-aware cache, bookmarks, restarts, relists and resync."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from tmc.errors import ForbiddenError, GoneError
from tmc.kcp.paths import ALL_CLUSTERS, LogicalClusterPath
from tmc.kcp.resources import CONFIGMAPS
from tmc.kcp.rest import TransportError
from tmc.runtime import BY_CLUSTER, Informer, ObjectKey, RuntimeMetrics

from .fakes import CLOSE, FakeEndpointSet, FakeListWatch, configmap, eventually

JSON = dict[str, Any]


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.updates: list[tuple[JSON, JSON]] = []

    def on_add(self, obj: JSON) -> None:
        self.events.append(("add", obj["metadata"]["name"]))

    def on_update(self, old: JSON, new: JSON) -> None:
        self.events.append(("update", new["metadata"]["name"]))
        self.updates.append((old, new))

    def on_delete(self, obj: JSON) -> None:
        self.events.append(("delete", obj["metadata"]["name"]))


def make_informer(
    api: FakeListWatch | FakeEndpointSet, *, cluster: LogicalClusterPath | None = None, **options: Any
) -> tuple[Informer, Recorder, RuntimeMetrics]:
    metrics = RuntimeMetrics()
    options.setdefault("resync_period", None)
    options.setdefault("min_backoff", 0.001)
    options.setdefault("max_backoff", 0.01)
    informer = Informer(api, CONFIGMAPS, cluster=cluster, metrics=metrics, **options)
    recorder = Recorder()
    informer.add_handler(on_add=recorder.on_add, on_update=recorder.on_update, on_delete=recorder.on_delete)
    return informer, recorder, metrics


def counter(metrics: RuntimeMetrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, {"resource": "configmaps", **labels}) or 0.0


def event(kind: str, obj: JSON) -> JSON:
    return {"type": kind, "object": obj}


def bookmark(rv: int) -> JSON:
    return {"type": "BOOKMARK", "object": {"kind": "ConfigMap", "metadata": {"resourceVersion": str(rv)}}}


async def test_the_first_list_is_paginated_fills_the_cache_then_watches_from_its_resource_version() -> None:
    api = FakeListWatch([configmap(f"cm{index}", index, cluster="ws") for index in range(5)], resource_version=100)
    informer, recorder, _ = make_informer(api, cluster=ALL_CLUSTERS, page_size=2)
    assert informer.path == "/clusters/*/api/v1/configmaps"
    informer.start()
    await informer.has_synced.wait()
    assert [call.get("continue") for call in api.list_calls] == [None, "2", "4"]
    assert all(call["limit"] == 2 for call in api.list_calls)
    assert recorder.events == [("add", f"cm{index}") for index in range(5)]
    assert informer.list()[0]["kind"] == "ConfigMap", "listed items get apiVersion/kind like watched ones"
    await eventually(lambda: api.watch_calls == ["100"])
    await informer.stop()


async def test_watch_events_update_the_cache_and_call_handlers_in_order() -> None:
    api = FakeListWatch([configmap("keep", 1), configmap("change", 2)])
    api.scripts.append(
        [
            event("ADDED", configmap("new", 101)),
            event("MODIFIED", configmap("change", 102, data="x")),
            event("DELETED", configmap("keep", 103)),
        ]
    )
    informer, recorder, _ = make_informer(api)
    informer.start()
    await eventually(lambda: len(recorder.events) == 5)
    assert recorder.events[2:] == [("add", "new"), ("update", "change"), ("delete", "keep")]
    old, new = recorder.updates[0]
    assert (old["data"], new["data"]) == ({"v": ""}, {"v": "x"})
    assert [key.name for key in informer.list_keys()] == ["change", "new"]
    assert informer.get(ObjectKey("", "default", "change")) == new
    assert informer.resource_version == "103"
    await informer.stop()


async def test_a_closed_watch_resumes_from_the_last_bookmark_without_relisting() -> None:
    api = FakeListWatch([configmap("a", 1)], resource_version=100)
    api.scripts.append([bookmark(150), CLOSE])
    informer, recorder, metrics = make_informer(api)
    informer.start()
    await eventually(lambda: api.watch_calls == ["100", "150"], what="a re-watch from the bookmark")
    assert recorder.events == [("add", "a")], "a bookmark is not an object event"
    assert len(api.list_calls) == 1
    assert counter(metrics, "tmc_informer_watch_restarts_total") == 1
    assert counter(metrics, "tmc_informer_relists_total") == 0
    await informer.stop()


async def test_410_gone_relists_and_emits_only_the_differences() -> None:
    api = FakeListWatch([configmap("same", 1), configmap("changed", 2), configmap("deleted", 3)], 100)
    changed_meanwhile = asyncio.Event()
    api.scripts.append([changed_meanwhile, GoneError(410, "Expired", "too old resource version")])
    informer, recorder, metrics = make_informer(api)
    informer.start()
    await informer.has_synced.wait()
    api.objects = [configmap("same", 1), configmap("changed", 20), configmap("created", 21)]
    api.resource_version = 200
    changed_meanwhile.set()
    await eventually(lambda: len(api.list_calls) == 2, what="a relist")
    await eventually(lambda: api.watch_calls == ["100", "200"], what="a watch from the relist's version")
    assert sorted(recorder.events[3:]) == [("add", "created"), ("delete", "deleted"), ("update", "changed")]
    assert [key.name for key in informer.list_keys()] == ["changed", "created", "same"]
    assert counter(metrics, "tmc_informer_relists_total") == 1
    await informer.stop()


async def test_a_transport_error_rewatches_from_the_last_version_after_a_backoff() -> None:
    api = FakeListWatch([configmap("a", 1)], resource_version=100)
    api.scripts.append([event("MODIFIED", configmap("a", 120)), TransportError(0, "Unreachable", "refused")])
    api.scripts.append([TransportError(0, "Unreachable", "refused")])
    informer, _, metrics = make_informer(api)
    informer.start()
    await eventually(lambda: api.watch_calls == ["100", "120", "120"])
    assert len(api.list_calls) == 1, "an unreachable server is no reason to relist"
    assert counter(metrics, "tmc_informer_watch_restarts_total") == 2
    await informer.stop()


async def test_a_watch_that_keeps_closing_at_once_backs_off_instead_of_spinning() -> None:
    api = FakeListWatch([], resource_version=100)
    api.scripts.extend([[CLOSE]] * 1000)
    informer, _, _ = make_informer(api, min_backoff=0.02, max_backoff=0.04)
    informer.start()
    await informer.has_synced.wait()
    await eventually(lambda: len(api.watch_calls) >= 2)
    count = len(api.watch_calls)
    await eventually(lambda: len(api.watch_calls) >= count + 1)
    assert len(api.watch_calls) < 10
    await informer.stop()


async def test_a_failing_list_is_retried_and_synced_only_once_it_succeeds() -> None:
    api = FakeListWatch([configmap("a", 1)])
    api.list_error = TransportError(0, "Unreachable", "refused")
    informer, _, _ = make_informer(api)
    informer.start()
    await eventually(lambda: len(api.list_calls) >= 2, what="list retries")
    assert not informer.has_synced.is_set()
    api.list_error = None
    await informer.has_synced.wait()
    assert [key.name for key in informer.list_keys()] == ["a"]
    await informer.stop()


async def test_objects_are_keyed_and_indexed_by_logical_cluster() -> None:
    api = FakeListWatch(
        [
            configmap("web", 1, cluster="ws-a"),
            configmap("web", 2, cluster="ws-b"),
            configmap("db", 3, cluster="ws-a", namespace="data"),
        ]
    )
    informer, _, _ = make_informer(api, cluster=ALL_CLUSTERS)
    informer.add_index("namespace", lambda obj: [obj["metadata"]["namespace"]])
    informer.start()
    await informer.has_synced.wait()
    assert len(informer.list()) == 3, "same-named objects of two workspaces must not merge"
    assert [o["metadata"]["name"] for o in informer.list(cluster="ws-a")] == ["db", "web"]
    assert [o["metadata"]["resourceVersion"] for o in informer.by_index(BY_CLUSTER, "ws-b")] == ["2"]
    assert [o["metadata"]["name"] for o in informer.by_index("namespace", "data")] == ["db"]
    assert informer.get(ObjectKey("ws-b", "default", "web")) is not None
    assert informer.list(cluster="ws-c") == []
    await informer.stop()


async def test_deletes_leave_no_stale_index_entries() -> None:
    api = FakeListWatch([configmap("web", 1, cluster="ws-a")])
    api.scripts.append([event("DELETED", configmap("web", 101, cluster="ws-a"))])
    informer, recorder, _ = make_informer(api, cluster=ALL_CLUSTERS)
    informer.start()
    await eventually(lambda: ("delete", "web") in recorder.events)
    assert informer.list(cluster="ws-a") == []
    await informer.stop()


async def test_resync_replays_every_cached_object_as_an_update() -> None:
    api = FakeListWatch([configmap("a", 1), configmap("b", 2)])
    informer, recorder, _ = make_informer(api, resync_period=0.01)
    informer.start()
    await eventually(lambda: recorder.events.count(("update", "a")) >= 2, what="two resyncs")
    old, new = recorder.updates[0]
    assert old is new
    await informer.stop()


async def test_a_failing_handler_is_logged_with_its_traceback_and_counted_and_does_not_stop_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    api = FakeListWatch([configmap("a", 1)])
    api.scripts.append([event("ADDED", configmap("b", 101))])
    metrics = RuntimeMetrics()
    informer = Informer(api, CONFIGMAPS, metrics=metrics, resync_period=None)

    def broken(obj: JSON) -> None:
        raise RuntimeError("handler bug")

    seen: list[str] = []
    informer.add_handler(on_add=broken)
    informer.add_handler(on_add=lambda obj: seen.append(obj["metadata"]["name"]))
    with caplog.at_level(logging.ERROR, logger="tmc.runtime.informer"):
        informer.start()
        await eventually(lambda: seen == ["a", "b"])
    await informer.stop()
    assert counter(metrics, "tmc_informer_handler_errors_total") == 2
    failures = [r for r in caplog.records if "event handler" in r.getMessage()]
    assert len(failures) == 2
    assert failures[0].exc_info is not None, "the traceback is logged"
    assert len(api.list_calls) == 1, "a handler bug is no reason to relist"


async def test_a_malformed_event_is_logged_with_its_traceback_counted_and_then_relisted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    api = FakeListWatch([configmap("a", 1)])
    api.scripts.append([{"type": "ADDED", "object": {"metadata": {"resourceVersion": "101"}}}])  # no name
    informer, _, metrics = make_informer(api)
    with caplog.at_level(logging.ERROR, logger="tmc.runtime.informer"):
        informer.start()
        await eventually(lambda: len(api.list_calls) == 2, what="a relist after the bug")
    await informer.stop()
    assert counter(metrics, "tmc_informer_errors_total") == 1
    record = next(r for r in caplog.records if "unexpected error" in r.getMessage())
    assert record.exc_info is not None
    assert record.exc_info[0] is KeyError


async def test_an_error_status_on_the_watch_relists_and_marks_the_informer_failing_until_it_recovers() -> None:
    api = FakeListWatch([configmap("a", 1)])
    api.scripts.append([ForbiddenError(403, "Forbidden", "no access")])
    informer, _, _ = make_informer(api, unhealthy_after=0.0)
    api.list_error = None
    informer.start()
    await informer.has_synced.wait()
    await eventually(lambda: len(api.list_calls) == 2, what="a relist")
    await eventually(lambda: informer.health()[0], what="healthy after the relist")
    await informer.stop()


async def test_a_silent_watch_is_abandoned_after_the_bound_and_reopened_from_the_last_version() -> None:
    api = FakeListWatch([configmap("a", 1)], resource_version=100)
    api.scripts.append([bookmark(110)])  # then silence: a half-open connection delivers nothing
    informer, _, metrics = make_informer(api, watch_silence_timeout=0.05)
    informer.start()
    await eventually(lambda: api.watch_calls[:3] == ["100", "110", "110"], what="re-watches after silence")
    await informer.stop()
    assert counter(metrics, "tmc_informer_watch_stalls_total") >= 2
    assert len(api.list_calls) == 1, "a stalled watch resumes from its resourceVersion, no relist"


async def test_a_watch_that_keeps_delivering_is_never_declared_silent() -> None:
    api = FakeListWatch([configmap("a", 1)], resource_version=100)
    ticks = [event("MODIFIED", configmap("a", 101 + index)) for index in range(30)]
    api.scripts.append([step for tick in ticks for step in (tick, 0.01)])
    informer, recorder, metrics = make_informer(api, watch_silence_timeout=0.05)
    informer.start()
    await eventually(lambda: recorder.events.count(("update", "a")) == 30, what="30 updates")
    await informer.stop()
    assert counter(metrics, "tmc_informer_watch_stalls_total") == 0, "0.3s of steady events, bound 0.05s"


async def test_a_wildcard_informer_refuses_an_object_without_a_logical_cluster_loudly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    orphan = configmap("orphan", 2)  # no kcp.io/cluster annotation
    api = FakeListWatch([configmap("web", 1, cluster="ws-a"), orphan])
    gate = asyncio.Event()
    api.scripts.append([gate, GoneError(410, "Expired", "too old")])
    informer, recorder, metrics = make_informer(api, cluster=ALL_CLUSTERS)
    with caplog.at_level(logging.ERROR, logger="tmc.runtime.informer"):
        informer.start()
        await informer.has_synced.wait()
    assert [key.name for key in informer.list_keys()] == ["web"], "never filed under cluster ''"
    assert informer.list(cluster="") == []
    assert recorder.events == [("add", "web")]
    assert counter(metrics, "tmc_informer_index_errors_total", index=BY_CLUSTER) == 1
    healthy, message = informer.health()
    assert not healthy
    assert "|default/orphan" in message
    assert "kcp.io/cluster" in message
    assert any(r.exc_info for r in caplog.records if "kept out of the cache" in r.getMessage())
    # The refusal lasts until the object is deleted or, as here, a relist no longer has it unannotated.
    api.objects = [configmap("web", 1, cluster="ws-a"), configmap("orphan", 3, cluster="ws-b")]
    gate.set()
    await eventually(lambda: ("add", "orphan") in recorder.events)
    assert [o["metadata"]["name"] for o in informer.list(cluster="ws-b")] == ["orphan"]
    assert informer.health() == (True, "ok")
    await informer.stop()


async def test_an_index_that_fails_on_a_new_version_keeps_the_previous_version_cached_and_indexed() -> None:
    api = FakeListWatch([configmap("a", 1, data="x")])
    api.scripts.append([event("MODIFIED", configmap("a", 101, data="boom"))])
    informer, recorder, _ = make_informer(api)

    def by_data(obj: JSON) -> list[str]:
        if obj["data"]["v"] == "boom":
            raise ValueError("cannot index this")
        return [obj["data"]["v"]]

    informer.add_index("data", by_data)
    informer.start()
    await informer.has_synced.wait()
    await eventually(lambda: "refused by an index" in informer.health()[1], what="the refusal")
    cached = informer.get(ObjectKey("", "default", "a"))
    assert cached is not None
    assert cached["data"] == {"v": "x"}
    assert [o["metadata"]["resourceVersion"] for o in informer.by_index("data", "x")] == ["1"]
    assert recorder.events == [("add", "a")], "no update event for a version that was not cached"
    await informer.stop()


async def test_several_endpoints_feed_one_cache_and_each_relists_only_its_own_objects() -> None:
    shard_a = FakeListWatch([configmap("web", 1, cluster="ws-a")], resource_version=100)
    shard_b = FakeListWatch([configmap("web", 1, cluster="ws-b")], resource_version=500)
    gone = asyncio.Event()
    shard_b.scripts.append([gone, GoneError(410, "Expired", "too old")])
    endpoints = FakeEndpointSet({"https://a": shard_a, "https://b": shard_b})
    informer, recorder, _ = make_informer(endpoints, cluster=ALL_CLUSTERS)
    informer.start()
    await informer.has_synced.wait()
    assert [(k.cluster, k.name) for k in informer.list_keys()] == [("ws-a", "web"), ("ws-b", "web")]
    assert endpoints.learned == {"ws-a": "https://a", "ws-b": "https://b"}
    assert informer.endpoint_of(ObjectKey("ws-b", "default", "web")) == "https://b"
    await eventually(lambda: shard_a.watch_calls == ["100"] and shard_b.watch_calls == ["500"])
    shard_b.objects = [configmap("db", 2, cluster="ws-b")]
    gone.set()
    await eventually(lambda: ("delete", "web") in recorder.events, what="shard b's relist")
    assert [(k.cluster, k.name) for k in informer.list_keys()] == [("ws-a", "web"), ("ws-b", "db")]
    assert len(shard_a.list_calls) == 1, "the other shard is untouched"
    await informer.stop()


async def test_endpoints_that_come_and_go_start_and_stop_watches_and_drop_what_they_served() -> None:
    shard_a = FakeListWatch([configmap("web", 1, cluster="ws-a")])
    endpoints = FakeEndpointSet({})
    informer, recorder, _ = make_informer(endpoints, cluster=ALL_CLUSTERS)
    informer.start()
    await informer.has_synced.wait()  # nothing to watch yet is nothing missing
    assert informer.endpoints == []
    shard_b = FakeListWatch([configmap("db", 1, cluster="ws-b")])
    shard_b.list_error = TransportError(0, "Unreachable", "refused")
    endpoints.set({"https://a": shard_a, "https://b": shard_b})
    assert not informer.has_synced.is_set(), "a new endpoint must be listed before the cache counts as synced"
    await eventually(lambda: ("add", "web") in recorder.events)
    assert not informer.has_synced.is_set()
    shard_b.list_error = None
    await informer.has_synced.wait()
    assert informer.endpoints == ["https://a", "https://b"]
    endpoints.set({"https://b": shard_b})
    assert ("delete", "web") in recorder.events
    assert [k.name for k in informer.list_keys()] == ["db"]
    assert informer.endpoints == ["https://b"]
    watches = len(shard_a.watch_calls)
    await asyncio.sleep(0.02)
    assert len(shard_a.watch_calls) == watches, "the removed endpoint is not watched any more"
    await informer.stop()


async def test_health_names_an_endpoint_that_keeps_failing_and_recovers_when_it_answers() -> None:
    api = FakeListWatch([configmap("a", 1)], resource_version=100)
    api.scripts.append([TransportError(0, "Unreachable", "connection refused")])
    recovered = asyncio.Event()
    api.scripts.append([TransportError(0, "Unreachable", "connection refused")])
    api.scripts.append([recovered, event("MODIFIED", configmap("a", 120))])
    informer, _, _ = make_informer(api, unhealthy_after=0.0)
    assert informer.health() == (False, "not running")
    informer.start()
    await eventually(lambda: len(api.watch_calls) >= 3)
    healthy, message = informer.health()
    assert not healthy
    assert "failing" in message
    assert "connection refused" in message
    recovered.set()
    await eventually(lambda: informer.health() == (True, "ok"), what="recovery")
    await informer.stop()
