"""Informer: list + watch into a cluster-aware cache, bookmarks, restarts, relists and resync."""

from __future__ import annotations

import asyncio
from typing import Any

from tmc.errors import GoneError
from tmc.kcp.paths import ALL_CLUSTERS
from tmc.kcp.resources import CONFIGMAPS
from tmc.kcp.rest import TransportError
from tmc.runtime import BY_CLUSTER, Informer, ObjectKey, RuntimeMetrics

from .fakes import CLOSE, FakeListWatch, configmap, eventually

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


def make_informer(api: FakeListWatch, **options: Any) -> tuple[Informer, Recorder, RuntimeMetrics]:
    metrics = RuntimeMetrics()
    options.setdefault("resync_period", None)
    options.setdefault("min_backoff", 0.001)
    options.setdefault("max_backoff", 0.01)
    informer = Informer(api, CONFIGMAPS, cluster=ALL_CLUSTERS, metrics=metrics, **options)
    recorder = Recorder()
    informer.add_handler(on_add=recorder.on_add, on_update=recorder.on_update, on_delete=recorder.on_delete)
    return informer, recorder, metrics


def counter(metrics: RuntimeMetrics, name: str) -> float:
    return metrics.registry.get_sample_value(name, {"resource": "configmaps"}) or 0.0


def event(kind: str, obj: JSON) -> JSON:
    return {"type": kind, "object": obj}


def bookmark(rv: int) -> JSON:
    return {"type": "BOOKMARK", "object": {"kind": "ConfigMap", "metadata": {"resourceVersion": str(rv)}}}


async def test_the_first_list_is_paginated_fills_the_cache_then_watches_from_its_resource_version() -> None:
    api = FakeListWatch([configmap(f"cm{index}", index) for index in range(5)], resource_version=100)
    informer, recorder, _ = make_informer(api, page_size=2)
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
    informer, _, _ = make_informer(api)
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
    informer, recorder, _ = make_informer(api)
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


async def test_a_failing_handler_does_not_stop_the_informer_or_other_handlers() -> None:
    api = FakeListWatch([configmap("a", 1)])
    api.scripts.append([event("ADDED", configmap("b", 101))])
    metrics = RuntimeMetrics()
    informer = Informer(api, CONFIGMAPS, metrics=metrics, resync_period=None)

    def broken(obj: JSON) -> None:
        raise RuntimeError("handler bug")

    seen: list[str] = []
    informer.add_handler(on_add=broken)
    informer.add_handler(on_add=lambda obj: seen.append(obj["metadata"]["name"]))
    informer.start()
    await eventually(lambda: seen == ["a", "b"])
    await informer.stop()
