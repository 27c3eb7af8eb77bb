"""A tenant's hostile input to the sync engine: what it writes into its own objects never reaches anyone else.

A tenant owns its workspace: it can write its WorkloadBindings' spec and status, annotate its workloads with
TMC's own annotation keys, and name any registration. None of that may make the engine write, read or delete
outside the physical namespace its (logical cluster, namespace, registration) maps to.
"""

from __future__ import annotations

from typing import Any

from tmc.controllers.sync.naming import ORIGIN_CLUSTER, ORIGIN_NAME, ORIGIN_NAMESPACE, ORIGIN_UID
from tmc.runtime import Result

from .fakes import NAMESPACE, WORKSPACE, World, binding, deployment, physical_namespace

JSON = dict[str, Any]
OTHER_TENANT = "root:other-tenant"


def _foreign_objects(world: World) -> tuple[str, list[tuple[str, str]]]:
    """Another tenant's copy and a cluster add-on on cluster ``shared``; returns the other tenant's namespace."""
    cluster = world["shared"]
    theirs = physical_namespace("shared", cluster=OTHER_TENANT)
    for namespace in (theirs, "kube-system"):
        cluster.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    placed = [(theirs, "web"), ("kube-system", "coredns")]
    for namespace, name in placed:
        cluster.put({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": namespace}})
    return theirs, placed


def _forged_entry(namespace: str, name: str, **extra: Any) -> JSON:
    return {
        "name": "shared",
        "namespace": namespace,
        "applied": True,
        "reason": "Applied",
        "objects": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": name}],
        **extra,
    }


def _untouched(world: World, placed: list[tuple[str, str]]) -> None:
    cluster = world["shared"]
    for namespace, name in placed:
        assert cluster.find("Deployment", namespace, name) is not None, f"{namespace}/{name} was deleted"
    outside = [r for r in cluster.writes() if r.namespace in {ns for ns, _ in placed}]
    assert outside == [], f"writes outside the tenant's own namespace: {outside}"


async def test_a_forged_status_naming_another_namespace_deletes_nothing_there() -> None:
    world = World("shared")
    theirs, placed = _foreign_objects(world)
    forged = binding(workload="gone", clusters={})  # no such workload: everything recorded is cleaned up
    forged["status"] = {"clusters": [_forged_entry(theirs, "web")]}
    world.kcp.put(forged)

    await world.reconcile("gone")

    _untouched(world, placed)
    deleted = [(r.namespace, r.name) for r in world["shared"].requests if r.verb == "delete"]
    assert all(namespace == physical_namespace("shared") for namespace, _ in deleted), deleted


async def test_a_forged_status_aimed_at_kube_system_with_the_orphan_policy_touches_nothing_there() -> None:
    world = World("shared")
    _, placed = _foreign_objects(world)
    world.kcp.put(deployment(annotations={"tmc.kcp.io/deletion-policy": "Orphan"}))
    forged = binding(clusters={})
    entry = _forged_entry("kube-system", "coredns")
    entry["objects"].append({"apiVersion": "v1", "kind": "Node", "name": "node-1"})  # a kind TMC never applies
    forged["status"] = {"clusters": [entry]}
    world.kcp.put(forged)
    world.kcp.delete("Deployment", "web")

    assert await world.reconcile() == Result()

    _untouched(world, placed)


async def test_a_live_binding_with_a_forged_leftover_in_another_namespace_leaves_it_alone() -> None:
    world = World("shared", "mine")
    theirs, placed = _foreign_objects(world)
    world.kcp.put(deployment())
    forged = binding(clusters={"mine": 3}, purgeMode="Immediately")
    forged["status"] = {"clusters": [_forged_entry(theirs, "web")]}
    world.kcp.put(forged)

    await world.reconcile()

    _untouched(world, placed)
    assert world["mine"].find("Deployment", physical_namespace("mine"), "web") is not None


async def test_a_binding_naming_a_registration_the_tenant_does_not_have_reports_it_and_writes_nowhere() -> None:
    world = World("shared")
    _, placed = _foreign_objects(world)
    world.kcp.put(deployment())
    world.kcp.put(binding(clusters={"someone-elses": 3}))

    await world.reconcile()

    entry = world.entries()["someone-elses"]
    assert (entry["applied"], entry["reason"]) == (False, "NotFound")
    assert "someone-elses" in entry["message"]
    assert world.condition()["status"] == "False"
    assert world["shared"].writes() == []
    _untouched(world, placed)


async def test_origin_annotations_a_tenant_writes_on_its_workload_are_replaced_by_its_own() -> None:
    world = World("shared")
    spoofed = {
        ORIGIN_CLUSTER: OTHER_TENANT,
        ORIGIN_NAMESPACE: "prod",
        ORIGIN_NAME: "their-web",
        ORIGIN_UID: "their-uid",
        "tmc.kcp.io/locator": "{}",
    }
    world.kcp.put(deployment(annotations=spoofed))
    world.kcp.put(binding(clusters={"shared": 2}))

    await world.reconcile()

    copy = world["shared"].find("Deployment", physical_namespace("shared"), "web")
    assert copy is not None
    annotations = copy["metadata"]["annotations"]
    assert (annotations[ORIGIN_CLUSTER], annotations[ORIGIN_NAMESPACE], annotations[ORIGIN_NAME]) == (
        WORKSPACE,
        NAMESPACE,
        "web",
    )
    assert annotations[ORIGIN_UID] != "their-uid"
    assert "tmc.kcp.io/locator" not in annotations
