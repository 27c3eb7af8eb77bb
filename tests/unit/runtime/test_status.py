"""StatusWriter: skips no-op writes, patches only what changed, retries conflicts on fresh state, fences."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tmc.errors import ConflictError
from tmc.kcp.resources import Resource
from tmc.runtime import LeadershipLostError, RuntimeMetrics
from tmc.runtime.status import StatusWriter, merge_patch_diff

from .fakes import FakeStatusApi

JSON = dict[str, Any]
THINGS = Resource("tmc.kcp.io", "v1alpha1", "things", "Thing", namespaced=True)


def thing(status: JSON | None = None, *, cluster: str = "ws-a", spec: JSON | None = None) -> JSON:
    obj: JSON = {
        "apiVersion": "tmc.kcp.io/v1alpha1",
        "kind": "Thing",
        "metadata": {"name": "t", "namespace": "default", "annotations": {"kcp.io/cluster": cluster}},
        "spec": spec or {"size": 1},
    }
    if status is not None:
        obj["status"] = status
    return obj


def writer(api: FakeStatusApi, **options: Any) -> tuple[StatusWriter, RuntimeMetrics]:
    metrics = RuntimeMetrics()
    return StatusWriter(api, field_manager="tmc-controller.me", metrics=metrics, **options), metrics


def outcomes(metrics: RuntimeMetrics) -> dict[str, float]:
    result = {}
    for outcome in ("written", "unchanged", "conflict", "gone", "fenced"):
        value = metrics.registry.get_sample_value(
            "tmc_status_writes_total", {"resource": "things.tmc.kcp.io", "outcome": outcome}
        )
        if value:
            result[outcome] = value
    return result


def set_phase(phase: str) -> Any:
    def desired(obj: JSON) -> JSON:
        return {**(obj.get("status") or {}), "phase": phase}

    return desired


async def test_an_unchanged_status_is_not_written() -> None:
    api = FakeStatusApi()
    stored = api.put(thing({"phase": "Ready"}))
    status, metrics = writer(api)
    assert await status.write(THINGS, stored, set_phase("Ready")) == stored
    assert api.patches == []
    assert outcomes(metrics) == {"unchanged": 1}


async def test_a_changed_status_is_patched_in_the_objects_own_cluster_with_only_what_changed() -> None:
    api = FakeStatusApi()
    stored = api.put(thing({"phase": "Pending", "old": "x", "counts": {"a": 1, "b": 2}}))
    status, metrics = writer(api)

    def desired(obj: JSON) -> JSON:
        return {"phase": "Ready", "counts": {"a": 1, "b": 3}}

    written = await status.write(THINGS, stored, desired)
    assert written is not None
    assert written["status"] == {"phase": "Ready", "counts": {"a": 1, "b": 3}}
    cluster, patch, manager = api.patches[0]
    assert cluster == "ws-a"
    assert manager == "tmc-controller.me"
    assert patch == {
        "metadata": {"resourceVersion": stored["metadata"]["resourceVersion"]},
        "status": {"phase": "Ready", "old": None, "counts": {"b": 3}},
    }
    assert outcomes(metrics) == {"written": 1}


async def test_a_conflict_is_counted_and_the_result_applied_to_a_fresh_read_not_dropped() -> None:
    api = FakeStatusApi()
    stale = api.put(thing({"phase": "Pending", "seenBy": []}))

    def someone_else_writes() -> None:
        fresh = copy.deepcopy(api.objects[("ws-a", "default", "t")])
        fresh["status"]["seenBy"] = ["other"]
        api.put(fresh)

    api.interfere = someone_else_writes
    status, metrics = writer(api)

    def desired(obj: JSON) -> JSON:
        current = obj.get("status") or {}
        return {**current, "phase": "Ready", "seenBy": [*current.get("seenBy", []), "me"]}

    written = await status.write(THINGS, stale, desired)
    assert written is not None
    assert written["status"] == {"phase": "Ready", "seenBy": ["other", "me"]}, "recomputed from the fresh object"
    assert api.gets == ["t"]
    assert len(api.patches) == 2
    assert outcomes(metrics) == {"conflict": 1, "written": 1}


async def test_a_conflict_whose_fresh_object_already_has_the_status_writes_nothing_more() -> None:
    api = FakeStatusApi()
    stale = api.put(thing({"phase": "Pending"}))

    def someone_else_writes_the_same() -> None:
        fresh = copy.deepcopy(api.objects[("ws-a", "default", "t")])
        fresh["status"]["phase"] = "Ready"
        api.put(fresh)

    api.interfere = someone_else_writes_the_same
    status, metrics = writer(api)
    written = await status.write(THINGS, stale, set_phase("Ready"))
    assert written is not None
    assert written["status"] == {"phase": "Ready"}
    assert len(api.patches) == 1
    assert outcomes(metrics) == {"conflict": 1, "unchanged": 1}


async def test_conflicts_that_never_end_raise_for_the_controller_to_retry() -> None:
    api = FakeStatusApi()
    stored = api.put(thing({"phase": "Pending"}))
    status, metrics = writer(api, max_attempts=3)
    original = api.merge_patch

    async def always_conflicting(*args: Any, **kwargs: Any) -> JSON:
        api.put(copy.deepcopy(api.objects[("ws-a", "default", "t")]))  # someone writes every time
        return await original(*args, **kwargs)

    api.merge_patch = always_conflicting  # type: ignore[method-assign]
    with pytest.raises(ConflictError, match="3 attempts"):
        await status.write(THINGS, stored, set_phase("Ready"))
    assert outcomes(metrics) == {"conflict": 3}


async def test_an_object_deleted_meanwhile_is_gone_not_an_error() -> None:
    api = FakeStatusApi()
    stored = api.put(thing({"phase": "Pending"}))
    del api.objects[("ws-a", "default", "t")]
    status, metrics = writer(api)
    assert await status.write(THINGS, stored, set_phase("Ready")) is None
    assert outcomes(metrics) == {"gone": 1}


async def test_a_process_that_does_not_hold_the_lease_never_writes() -> None:
    api = FakeStatusApi()
    stored = api.put(thing({"phase": "Pending"}))
    status, metrics = writer(api, fence=lambda: False)
    with pytest.raises(LeadershipLostError):
        await status.write(THINGS, stored, set_phase("Ready"))
    assert api.patches == []
    assert outcomes(metrics) == {"fenced": 1}
    assert await status.write(THINGS, stored, set_phase("Pending")) == stored, "no write needed, no fence needed"


async def test_desired_none_means_leave_the_status_alone() -> None:
    api = FakeStatusApi()
    stored = api.put(thing())
    status, _ = writer(api)
    assert await status.write(THINGS, stored, lambda obj: None) == stored
    assert api.patches == []


@pytest.mark.parametrize(
    ("old", "new", "patch"),
    [
        pytest.param({}, {"a": 1}, {"a": 1}, id="an added field is set"),
        pytest.param({"a": 1}, {}, {"a": None}, id="a removed field is nulled"),
        pytest.param({"a": [1, 2]}, {"a": [2]}, {"a": [2]}, id="lists are replaced whole"),
        pytest.param({"a": {"b": 1, "c": 2}}, {"a": {"b": 1}}, {"a": {"c": None}}, id="nested maps are diffed"),
        pytest.param({"a": {"b": 1}}, {"a": 5}, {"a": 5}, id="a map replaced by a scalar"),
        pytest.param({"a": 1, "b": {"c": 1}}, {"a": 1, "b": {"c": 1}}, {}, id="equal is empty"),
    ],
)
def test_merge_patch_diff(old: JSON, new: JSON, patch: JSON) -> None:
    assert merge_patch_diff(old, new) == patch


def test_guard_refuses_other_writes_without_the_lease_and_counts_them() -> None:
    holding = True
    status, metrics = writer(FakeStatusApi(), fence=lambda: holding)
    status.guard(THINGS, "write an export")
    holding = False
    with pytest.raises(LeadershipLostError, match="refusing to write an export"):
        status.guard(THINGS, "write an export")
    assert outcomes(metrics) == {"fenced": 1}
