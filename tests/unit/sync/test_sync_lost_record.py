"""A copy whose record never reached kcp is still cleaned up when its workload is deleted.

The engine applies a copy first and then records it in the binding's status; cleanup deletes what the record
names. If that status write fails (kcp answers 5xx, the connection drops) or the process dies between the apply
and the write, and the workload is deleted before a later reconcile records the copy, the record names nothing
on that cluster. The copy watch, which shows the copies where this binding's copies live, fills that gap (found
by the e2e fault test that fails a fraction of kcp's status writes).
"""

from __future__ import annotations

from typing import Any

import pytest

from tmc.api.constants import SYNC_FINALIZER
from tmc.controllers.sync.naming import MANAGED_LABEL
from tmc.controllers.sync.reconcile import CACHE_SETTLE, SyncSettings
from tmc.errors import ApiError
from tmc.kcp.resources import Resource
from tmc.runtime import Result

from .fakes import World, binding, configmap, deployment, physical_namespace, secret

JSON = dict[str, Any]


def fail_binding_status_writes(world: World, monkeypatch: pytest.MonkeyPatch, times: int) -> None:
    """The next ``times`` status writes of a WorkloadBinding fail with 503 (kcp never applied them)."""
    left = [times]
    patch = world.kcp.merge_patch

    async def flaky(resource: Resource, name: str, body: JSON, **kwargs: Any) -> JSON:
        if resource.kind == "WorkloadBinding" and kwargs.get("subresource") == "status" and left[0] > 0:
            left[0] -= 1
            raise ApiError(503, "ServiceUnavailable", "kcp is not answering writes")
        return await patch(resource, name, body, **kwargs)

    monkeypatch.setattr(world.kcp, "merge_patch", flaky)


async def applied_but_not_recorded(
    world: World, monkeypatch: pytest.MonkeyPatch, *, with_dependencies: bool = False
) -> None:
    if with_dependencies:
        world.kcp.put(configmap("settings"))
        world.kcp.put(secret("db"))
        world.kcp.put(deployment(replicas=1, configmaps=["settings"], secrets=["db"]))
    else:
        world.kcp.put(deployment(replicas=1))
    world.kcp.put(binding(clusters={"a": 1}))
    fail_binding_status_writes(world, monkeypatch, 1)
    with pytest.raises(ApiError):
        await world.reconcile()
    assert world["a"].find("Deployment", physical_namespace("a"), "web") is not None
    assert "a" not in world.entries(), "the record of the copy was lost"


async def delete_once_the_watch_settled(world: World) -> None:
    """The tenant deletes the workload (its binding goes with it); the copy watch has caught up; one reconcile."""
    world.kcp.delete("Deployment", "web")
    world.kcp.delete("WorkloadBinding", "deployment-web")
    world.clock.advance(CACHE_SETTLE)
    assert await world.reconcile() == Result()


@pytest.mark.parametrize(
    "finalized",
    [
        pytest.param(True, id="the workload carries the sync finalizer: it waits with a deletionTimestamp"),
        pytest.param(False, id="the process died before the finalizer was added: the workload is gone at once"),
    ],
)
async def test_a_copy_whose_record_was_lost_is_deleted_with_its_workload(
    finalized: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = World("a", copy_watches=True)
    await applied_but_not_recorded(world, monkeypatch)
    if not finalized:
        world.kcp.edit("Deployment", "web", lambda d: d["metadata"].update(finalizers=[]))

    await delete_once_the_watch_settled(world)

    assert world["a"].names(physical_namespace("a")) == [], "no copy outlives its workload"
    assert world.kcp.find("WorkloadBinding", "deployment-web") is None
    assert world.kcp.find("Deployment", "web") is None


async def test_the_finalizers_wait_until_the_copy_watch_can_tell_whether_a_copy_is_left(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = World("a", copy_watches=True)
    await applied_but_not_recorded(world, monkeypatch)
    world.kcp.delete("Deployment", "web")
    world.kcp.delete("WorkloadBinding", "deployment-web")
    assert world.copies is not None
    world.copies.synced = False  # e.g. a restarted process whose watch of the cluster has not listed yet

    assert await world.reconcile() == Result(requeue_after=CACHE_SETTLE)
    assert SYNC_FINALIZER in world.kcp.stored("WorkloadBinding", "deployment-web")["metadata"]["finalizers"]
    assert world["a"].find("Deployment", physical_namespace("a"), "web") is not None

    world.copies.synced = True
    world.clock.advance(CACHE_SETTLE)
    assert await world.reconcile() == Result()
    assert world["a"].names(physical_namespace("a")) == []
    assert world.kcp.find("Deployment", "web") is None


async def test_a_copy_just_applied_that_the_watch_does_not_show_yet_holds_the_finalizers_briefly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = World("a", copy_watches=True)
    await applied_but_not_recorded(world, monkeypatch)
    assert world.copies is not None
    world.copies.show("a", "Deployment", physical_namespace("a"), "web", None)  # our own apply not delivered yet
    world.kcp.delete("Deployment", "web")
    world.kcp.delete("WorkloadBinding", "deployment-web")

    assert await world.reconcile() == Result(requeue_after=CACHE_SETTLE)
    world.copies.catch_up()
    world.clock.advance(CACHE_SETTLE)
    assert await world.reconcile() == Result()
    assert world["a"].names(physical_namespace("a")) == []


async def test_a_watch_that_never_lists_does_not_wedge_the_deletion_past_the_cleanup_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = World("a", copy_watches=True)
    await applied_but_not_recorded(world, monkeypatch)
    world.kcp.delete("Deployment", "web")
    world.kcp.delete("WorkloadBinding", "deployment-web")
    assert world.copies is not None
    world.copies.synced = False  # e.g. the tenant's credentials may not list Deployments cluster-wide

    assert await world.reconcile() == Result(requeue_after=CACHE_SETTLE)
    world.clock.advance(SyncSettings().cleanup_timeout)
    assert await world.reconcile() == Result()
    assert world.kcp.find("WorkloadBinding", "deployment-web") is None


async def test_the_dependencies_of_a_copy_whose_record_was_lost_go_with_it(monkeypatch: pytest.MonkeyPatch) -> None:
    world = World("a", copy_watches=True)
    await applied_but_not_recorded(world, monkeypatch, with_dependencies=True)
    assert world["a"].names(physical_namespace("a")) == ["ConfigMap/settings", "Deployment/web", "Secret/db"]

    await delete_once_the_watch_settled(world)

    assert world["a"].names(physical_namespace("a")) == [], "the ConfigMap and Secret copies went with the workload"
    assert world.kcp.find("Deployment", "web") is None


async def test_an_object_of_the_same_name_that_tmc_does_not_manage_is_left_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = World("a", copy_watches=True)
    await applied_but_not_recorded(world, monkeypatch, with_dependencies=True)
    # Someone took the ConfigMap over by hand (TMC's mark removed): it is theirs now.
    world["a"].edit(
        "ConfigMap", physical_namespace("a"), "settings", lambda c: c["metadata"]["labels"].pop(MANAGED_LABEL)
    )

    await delete_once_the_watch_settled(world)

    assert world["a"].names(physical_namespace("a")) == ["ConfigMap/settings"]
