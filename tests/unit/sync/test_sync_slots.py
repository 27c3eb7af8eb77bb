"""A busy cluster parks a reconcile instead of holding a worker (``tmc.controllers.sync.slots``)."""

from __future__ import annotations

import asyncio

from tmc.controllers.sync.reconcile import BUSY, SyncSettings
from tmc.controllers.sync.slots import ClusterSlots
from tmc.kcp.paths import LogicalClusterPath
from tmc.runtime import ObjectKey, Result

from .fakes import WORKSPACE, World, binding, deployment, physical_namespace

A, B, C = (ObjectKey(WORKSPACE, "prod", name) for name in ("a", "b", "c"))


async def test_a_key_finding_every_slot_taken_is_parked_and_woken_in_turn_when_one_frees() -> None:
    woken: list[ObjectKey] = []
    slots = ClusterSlots(wake=woken.append)
    limiter = asyncio.Semaphore(1)

    async with slots.slot(limiter, A) as free:
        assert free
        for key in (B, C, B):
            async with slots.slot(limiter, key) as other:
                assert not other, "nothing waits: the key is parked"
        assert slots.parked() == 2
    assert woken == [B], "one slot freed: the first parked key"

    slots.passed(limiter, B)  # it had nothing to do there after all
    assert woken == [B, C]
    async with slots.slot(limiter, C) as free:
        assert free
    assert slots.parked() == 0
    assert woken == [B, C]


async def test_a_forgotten_key_passes_its_turn_on() -> None:
    woken: list[ObjectKey] = []
    slots = ClusterSlots(wake=woken.append)
    limiter = asyncio.Semaphore(1)
    async with slots.slot(limiter, A):
        for key in (B, C):
            async with slots.slot(limiter, key):
                pass
    slots.forget(B)
    assert woken == [B, C]


async def test_without_wake_a_reconcile_waits_for_the_slot_as_before() -> None:
    slots = ClusterSlots()
    limiter = asyncio.Semaphore(1)
    await limiter.acquire()
    asyncio.get_running_loop().call_later(0.01, limiter.release)
    async with slots.slot(limiter, A) as free:
        assert free


def busy_world() -> tuple[World, list[ObjectKey]]:
    world = World("a", "b")
    woken: list[ObjectKey] = []
    world.reconciler.slots = ClusterSlots(wake=woken.append)
    world.kcp.put(deployment(replicas=2))
    return world, woken


async def take_every_slot(world: World, name: str) -> asyncio.Semaphore:
    limiter = world.clusters.limiter(LogicalClusterPath(WORKSPACE), name)
    while not limiter.locked():
        await limiter.acquire()
    return limiter


async def test_a_busy_cluster_holds_back_only_its_own_copy_and_is_retried() -> None:
    world, woken = busy_world()
    world.kcp.put(binding(clusters={"a": 1, "b": 1}))
    await take_every_slot(world, "a")

    assert await world.reconcile() == Result(requeue_after=SyncSettings().retry_after)

    assert world["b"].find("Deployment", physical_namespace("b"), "web") is not None
    assert world["a"].find("Deployment", physical_namespace("a"), "web") is None
    entries = world.entries()
    assert (entries["b"]["reason"], entries["a"]["reason"], entries["a"]["applied"]) == ("Applied", BUSY, False)
    assert entries["a"]["objects"] == []
    assert woken == []

    world.clusters._limiters["a"] = asyncio.Semaphore(4)  # its slots free again
    await world.reconcile()
    assert world.entries()["a"]["reason"] == "Applied"


async def test_a_reconcile_with_nothing_done_writes_nothing() -> None:
    world, _ = busy_world()
    world.kcp.put(binding(clusters={"a": 2}))
    await take_every_slot(world, "a")
    before = len(world.kcp.writes)

    assert await world.reconcile() == Result(requeue_after=SyncSettings().retry_after)

    assert world.kcp.writes[before:] == [], "no status, finalizer or event for a copy not applied yet"
    assert world["a"].writes() == []
