"""SyncReconciler against in-memory kcp and clusters: what issues 10 and 11 require of one binding's reconcile.

Each test drives the engine the way the controller does (reconcile the binding's key, level-triggered, with the
caches caught up) and then asserts on what reached each physical cluster and what kcp holds afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tmc.api.constants import SYNC_FINALIZER
from tmc.controllers.sync.naming import (
    FIELD_MANAGER,
    LOCATOR_ANNOTATION,
    MANAGED_LABEL,
    ORIGIN_ANNOTATIONS,
    ORIGIN_CLUSTER,
    ORIGIN_KIND,
    ORIGIN_NAME,
    ORIGIN_NAMESPACE,
    Locator,
)
from tmc.controllers.sync.reconcile import CACHE_SETTLE, SyncSettings
from tmc.errors import ApiError, ForbiddenError
from tmc.kcp.paths import LogicalClusterPath
from tmc.runtime import Result

from .fakes import (
    NAMESPACE,
    WORKSPACE,
    FakeCluster,
    World,
    available,
    binding,
    configmap,
    deployment,
    physical_namespace,
    secret,
)

JSON = dict[str, Any]
CONFLICT_RESOLUTION = "tmc.kcp.io/conflict-resolution"
DELETION_POLICY = "tmc.kcp.io/deletion-policy"


def deletes(cluster: FakeCluster) -> list[str]:
    return [f"{r.kind}/{r.name}" for r in cluster.requests if r.verb == "delete"]


def applies(cluster: FakeCluster) -> list[str]:
    return [f"{r.kind}/{r.name}" for r in cluster.requests if r.verb == "apply"]


def unmanaged_deployment(namespace: str, *, labels: JSON | None = None, annotations: JSON | None = None) -> JSON:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace, "labels": labels or {}, "annotations": annotations or {}},
        "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "theirs", "image": "theirs:1"}]}}},
    }


async def placed(world: World, clusters: dict[str, int | None], **workload: Any) -> None:
    """Workload ``web`` (with ConfigMap ``settings``) placed on ``clusters`` and reconciled once."""
    world.kcp.put(configmap("settings"))
    world.kcp.put(deployment(configmaps=["settings"], **workload))
    world.kcp.put(binding(clusters=clusters))
    await world.reconcile()


def delete_workload(world: World, name: str = "web") -> None:
    """The tenant deletes the workload; the placement controller then deletes its binding."""
    world.kcp.delete("Deployment", name)
    world.kcp.delete("WorkloadBinding", f"deployment-{name}")


# -- down-sync ----------------------------------------------------------------------------------------------


async def test_a_workload_and_its_dependencies_are_applied_into_the_mapped_namespace_with_the_bindings_replicas() -> (
    None
):
    world = World("a", "b")
    world.kcp.put(configmap("settings"))
    world.kcp.put(secret("db"))
    world.kcp.put(deployment(replicas=7, configmaps=["settings"], secrets=["db"]))
    world.kcp.put(binding(clusters={"a": 4, "b": 3}))

    assert await world.reconcile() == Result()

    for name, replicas in {"a": 4, "b": 3}.items():
        cluster, namespace = world[name], physical_namespace(name)
        created = cluster.namespace(namespace)
        assert created is not None
        assert created["metadata"]["labels"] == {MANAGED_LABEL: "true"}
        assert Locator(WORKSPACE, NAMESPACE, name).owns(created)
        assert applies(cluster) == ["ConfigMap/settings", "Secret/db", "Deployment/web"], "dependencies first"
        for request in cluster.writes():
            assert request.kind == "Namespace" or request.namespace == namespace, f"{request} outside {namespace}"
            assert request.verb != "apply" or request.params == {"fieldManager": FIELD_MANAGER, "force": True}
        copy = cluster.find("Deployment", namespace, "web")
        assert copy is not None
        assert copy["spec"]["replicas"] == replicas
        assert copy["metadata"]["labels"][MANAGED_LABEL] == "true"
        annotations = copy["metadata"]["annotations"]
        assert (annotations[ORIGIN_CLUSTER], annotations[ORIGIN_NAMESPACE]) == (WORKSPACE, NAMESPACE)
        assert (annotations[ORIGIN_KIND], annotations[ORIGIN_NAME]) == ("Deployment", "web")
        entry = world.entries()[name]
        assert (entry["applied"], entry["reason"], entry["namespace"]) == (True, "Applied", namespace)
        assert entry["desiredReplicas"] == replicas
        recorded = {(o["kind"], o["name"]): o["uid"] for o in entry["objects"]}
        on_cluster = {
            (kind, n): cluster.objects[(kind, namespace, n)]["metadata"]["uid"]
            for kind, n in [("ConfigMap", "settings"), ("Secret", "db"), ("Deployment", "web")]
        }
        assert recorded == on_cluster, "every applied object is recorded with the uid the cluster gave it"
    assert SYNC_FINALIZER in world.kcp.stored("Deployment", "web")["metadata"]["finalizers"]
    assert (world.condition()["status"], world.condition()["reason"]) == ("True", "Applied")
    assert world.kcp.events().count(("Normal", "Synced")) == 2


async def test_a_dependency_that_does_not_exist_yet_is_reported_and_the_rest_applied() -> None:
    world = World("a")
    world.kcp.put(deployment(configmaps=["later"]))
    world.kcp.put(binding(clusters={"a": 3}))

    await world.reconcile()

    assert applies(world["a"]) == ["Deployment/web"]
    entry = world.entries()["a"]
    assert entry["reason"] == "DependencyMissing"
    assert "ConfigMap later" in entry["message"]


# -- conflicts and isolation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("theirs", "annotations", "adopted"),
    [
        pytest.param({}, {}, False, id="an object without TMC's label is never overwritten"),
        pytest.param(
            {"labels": {MANAGED_LABEL: "true"}, "annotations": {ORIGIN_NAMESPACE: "staging", ORIGIN_NAME: "web"}},
            {},
            False,
            id="a managed object that came from elsewhere is not taken over",
        ),
        pytest.param({}, {CONFLICT_RESOLUTION: "Overwrite"}, True, id="the workload may opt in to adopt it"),
    ],
)
async def test_an_existing_object_tmc_did_not_create_is_a_conflict_unless_the_workload_adopts_it(
    theirs: JSON, annotations: dict[str, str], adopted: bool
) -> None:
    world = World("a")
    namespace = physical_namespace("a")
    world["a"].put(Locator(WORKSPACE, NAMESPACE, "a").namespace_manifest())
    before = world["a"].put(unmanaged_deployment(namespace, **theirs))

    await placed(world, {"a": 3}, annotations=annotations)

    entry = world.entries()["a"]
    after = world["a"].find("Deployment", namespace, "web")
    assert after is not None
    assert "ConfigMap/settings" in applies(world["a"]), "a conflict holds back nothing else"
    if adopted:
        assert (entry["applied"], entry["reason"]) == (True, "Applied")
        assert after["metadata"]["labels"][MANAGED_LABEL] == "true"
        assert after["spec"]["replicas"] == 3
    else:
        assert "Deployment/web" not in applies(world["a"])
        assert after == before, "untouched"
        assert (entry["applied"], entry["reason"]) == (False, "Conflict")
        assert "Deployment web" in entry["message"]
        assert "cluster a" in entry["message"]
        assert CONFLICT_RESOLUTION in entry["message"], "says how to adopt it"
        assert [o["kind"] for o in entry["objects"]] == ["ConfigMap"], "the conflicting object is not recorded"
        assert (world.condition()["status"], world.condition()["reason"]) == ("False", "Conflict")
        assert ("Warning", "SyncConflict") in world.kcp.events()

        # And deleting the workload later never deletes it either.
        delete_workload(world)
        await world.reconcile()
        assert deletes(world["a"]) == ["ConfigMap/settings"]
        assert world["a"].find("Deployment", namespace, "web") == before


@pytest.mark.parametrize(
    "annotations",
    [
        pytest.param(
            {LOCATOR_ANNOTATION: Locator("someone-else", NAMESPACE, "a").to_json()}, id="another tenant's locator"
        ),
        pytest.param({LOCATOR_ANNOTATION: Locator(WORKSPACE, "staging", "a").to_json()}, id="another namespace's"),
        pytest.param({}, id="no locator: created by hand"),
        pytest.param({LOCATOR_ANNOTATION: "{not json"}, id="a locator that does not parse"),
    ],
)
async def test_a_namespace_whose_locator_names_someone_else_is_refused_and_nothing_is_written(
    annotations: dict[str, str],
) -> None:
    world = World("a", "b")
    namespace = physical_namespace("a")
    world["a"].put(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "annotations": annotations}}
    )

    result = await placed_result(world, {"a": 2, "b": 1})

    assert world["a"].writes() == [], "nothing written into (or next to) someone else's namespace"
    assert world["a"].names(namespace) == []
    entry = world.entries()["a"]
    assert (entry["applied"], entry["reason"]) == (False, "NamespaceConflict")
    assert namespace in entry["message"]
    assert world.entries()["b"]["applied"] is True, "the other cluster is not held back"
    assert result == Result(requeue_after=SyncSettings().retry_after)


async def placed_result(world: World, clusters: dict[str, int | None]) -> Result:
    world.kcp.put(configmap("settings"))
    world.kcp.put(deployment(configmaps=["settings"]))
    world.kcp.put(binding(clusters=clusters))
    return await world.reconcile()


async def test_two_tenants_with_the_same_namespace_and_names_on_one_cluster_never_touch_each_other() -> None:
    world = World("a")
    await placed(world, {"a": 3})
    other = Locator("other7tenant", NAMESPACE, "a").physical_namespace
    assert other != physical_namespace("a")
    world["a"].put(Locator("other7tenant", NAMESPACE, "a").namespace_manifest())
    theirs = world["a"].put({**unmanaged_deployment(other), "metadata": {"name": "web", "namespace": other}})

    delete_workload(world)
    await world.reconcile()

    assert world["a"].find("Deployment", other, "web") == theirs
    assert all(r.namespace != other for r in world["a"].requests)


# -- removing copies ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("api_clusters", "common_kept"),
    [
        pytest.param({"b": 1}, True, id="a dependency another binding wants on that cluster stays"),
        pytest.param({"a": 1}, False, id="one nobody wants there any more goes"),
    ],
)
async def test_a_removed_clusters_copies_are_deleted_with_uid_preconditions_and_shared_dependencies_counted(
    api_clusters: dict[str, int | None], common_kept: bool
) -> None:
    world = World("a", "b")
    world.kcp.put(configmap("common"))
    world.kcp.put(configmap("web-only"))
    world.kcp.put(deployment("web", configmaps=["common", "web-only"]))
    world.kcp.put(deployment("api", configmaps=["common"]))
    world.kcp.put(binding("web", clusters={"a": 2, "b": 1}))
    world.kcp.put(binding("api", clusters=api_clusters))
    await world.reconcile("web")
    await world.reconcile("api")
    recorded = {(o["kind"], o["name"]): o["uid"] for o in world.entries("web")["b"]["objects"]}

    world.kcp.edit(
        "WorkloadBinding",
        "deployment-web",
        lambda b: b["spec"].update(clusters=[{"name": "a"}], purgeMode="Immediately"),
    )
    await world.reconcile("web")

    b, namespace = world["b"], physical_namespace("b")
    requests = [r for r in b.requests if r.verb == "delete"]
    assert {f"{r.kind}/{r.name}" for r in requests} == {"Deployment/web", "ConfigMap/web-only"} | (
        set() if common_kept else {"ConfigMap/common"}
    )
    for request in requests:
        assert request.namespace == namespace
        assert request.body == {
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "propagationPolicy": "Background",
            "preconditions": {"uid": recorded[(request.kind, request.name)]},
        }
    assert (b.find("ConfigMap", namespace, "common") is not None) == common_kept
    assert "b" not in world.entries("web")
    assert world.emptied == [(WORKSPACE, NAMESPACE, "b")], "the janitor is told to look at the namespace"
    assert deletes(world["a"]) == []


async def test_nothing_is_deleted_that_the_bindings_status_does_not_record_as_applied() -> None:
    world = World("a")
    await placed(world, {"a": 3})
    a, namespace = world["a"], physical_namespace("a")
    strangers = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "theirs", "namespace": namespace}},
        {  # carries TMC's marks but no status records applying it
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "stray",
                "namespace": namespace,
                "labels": {MANAGED_LABEL: "true"},
                "annotations": {ORIGIN_CLUSTER: WORKSPACE, ORIGIN_NAMESPACE: NAMESPACE, ORIGIN_NAME: "stray"},
            },
        },
    ]
    for obj in strangers:
        a.put(obj)

    # The template stops referencing the ConfigMap and now names one that was never applied.
    world.kcp.edit(
        "Deployment",
        "web",
        lambda d: d["spec"]["template"]["spec"]["containers"][0].update(envFrom=[{"configMapRef": {"name": "stray"}}]),
    )
    await world.reconcile()
    assert deletes(a) == ["ConfigMap/settings"]

    delete_workload(world)
    await world.reconcile()

    assert deletes(a) == ["ConfigMap/settings", "Deployment/web"]
    assert a.names(namespace) == ["ConfigMap/stray", "ConfigMap/theirs"]


async def test_a_copy_replaced_by_someone_else_is_not_deleted_the_uid_precondition_holds() -> None:
    world = World("a")
    await placed(world, {"a": 3})
    a, namespace = world["a"], physical_namespace("a")
    del a.objects[("Deployment", namespace, "web")]
    theirs = a.put(unmanaged_deployment(namespace))

    delete_workload(world)
    assert await world.reconcile() == Result()

    assert deletes(a) == ["ConfigMap/settings", "Deployment/web"]
    assert a.find("Deployment", namespace, "web") == theirs
    assert world.kcp.find("Deployment", "web") is None, "a 409 means: not the copy TMC applied; done"


# -- deletion -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "workload_deleted",
    [
        pytest.param(True, id="the workload is deleted: both go"),
        pytest.param(False, id="only the binding is deleted (placement gone): the workload stays, unfinalized"),
    ],
)
async def test_deletion_removes_the_copies_then_releases_the_finalizers(workload_deleted: bool) -> None:
    world = World("a", "b")
    await placed(world, {"a": 2, "b": 1})

    if workload_deleted:
        world.kcp.delete("Deployment", "web")
    world.kcp.delete("WorkloadBinding", "deployment-web")
    result = await world.reconcile()

    assert result == Result()
    for name in ("a", "b"):
        assert world[name].names(physical_namespace(name)) == []
    assert world.kcp.find("WorkloadBinding", "deployment-web") is None, "the binding's finalizer was released"
    workload = world.kcp.find("Deployment", "web")
    if workload_deleted:
        assert workload is None
    else:
        assert workload is not None
        assert SYNC_FINALIZER not in workload["metadata"]["finalizers"]
    assert sorted(world.emptied) == [(WORKSPACE, NAMESPACE, "a"), (WORKSPACE, NAMESPACE, "b")]
    assert world.reconciler._applied_generation == {}, "nothing is remembered of copies that are gone"


async def test_a_closed_connection_is_forgotten() -> None:
    world = World("a")
    await placed(world, {"a": 3})
    assert world.reconciler._applied_generation
    assert world.reconciler._known_namespaces
    client = await world.clusters.client_for(LogicalClusterPath(WORKSPACE), "a")
    world.reconciler.forget_connection(client)
    assert (world.reconciler._applied_generation, world.reconciler._applied_at) == ({}, {})
    assert world.reconciler._known_namespaces == set()


async def test_an_unreachable_cluster_holds_the_deletion_until_the_cleanup_timeout_then_the_leak_is_recorded() -> None:
    world = World("a", "b", settings=SyncSettings(cleanup_timeout=120.0, retry_after=5.0))
    await placed(world, {"a": 2, "b": 1})
    world.clock.advance(10)
    delete_workload(world)
    world.clusters.down["b"] = "HeartbeatMissed"

    world.clock.advance(119)
    assert await world.reconcile() == Result(requeue_after=5.0)

    assert world["a"].names(physical_namespace("a")) == []
    entry = world.entries()["b"]
    assert (entry["applied"], entry["reason"], entry["health"]) == (False, "CleanupPending", "Unknown")
    assert "HeartbeatMissed" in entry["message"]
    assert SYNC_FINALIZER in world.kcp.stored("Deployment", "web")["metadata"]["finalizers"]
    assert world.kcp.find("WorkloadBinding", "deployment-web") is not None
    assert (world.condition()["status"], world.condition()["reason"]) == ("False", "Removing")

    world.clock.advance(1)  # 120 s after the deletionTimestamp
    assert await world.reconcile() == Result()

    assert world.kcp.find("Deployment", "web") is None
    assert world.kcp.find("WorkloadBinding", "deployment-web") is None
    leaked = world.kcp.stored("ClusterRegistration", "b", namespace="")["status"]["orphanedCopies"]
    namespace = physical_namespace("b")
    assert sorted((o["kind"], o["name"], o["namespace"], o["origin"]) for o in leaked) == [
        ("ConfigMap", "settings", namespace, f"{NAMESPACE}/settings"),
        ("Deployment", "web", namespace, f"{NAMESPACE}/web"),
    ]
    assert "status" not in world.kcp.stored("ClusterRegistration", "a", namespace="")
    assert world["b"].names(namespace) == ["ConfigMap/settings", "Deployment/web"], "nothing could reach them"


async def test_a_cluster_that_keeps_refusing_the_delete_does_not_wedge_the_deletion_past_the_cleanup_timeout() -> None:
    world = World("a", settings=SyncSettings(cleanup_timeout=120.0))
    await placed(world, {"a": 3})
    refused = ForbiddenError(403, "Forbidden", "deployments.apps is forbidden")
    world["a"].fail[("delete", "Deployment", "web")] = refused
    delete_workload(world)

    assert await world.reconcile() == Result(requeue_after=SyncSettings().retry_after)
    assert world.entries()["a"]["reason"] == "CleanupPending"
    assert [o["kind"] for o in world.entries()["a"]["objects"]] == ["Deployment"], "what went is not retried"

    world.clock.advance(120)
    await world.reconcile()

    assert world.kcp.find("Deployment", "web") is None
    leaked = world.kcp.stored("ClusterRegistration", "a", namespace="")["status"]["orphanedCopies"]
    assert [(o["kind"], o["name"]) for o in leaked] == [("Deployment", "web")]


async def test_deletion_policy_orphan_keeps_the_copies_and_removes_tmcs_marks() -> None:
    world = World("a")
    await placed(world, {"a": 3}, annotations={DELETION_POLICY: "Orphan"})
    a, namespace = world["a"], physical_namespace("a")

    delete_workload(world)
    assert await world.reconcile() == Result()

    assert deletes(a) == []
    assert a.names(namespace) == ["ConfigMap/settings", "Deployment/web"]
    for kind, name in (("ConfigMap", "settings"), ("Deployment", "web")):
        kept = a.find(kind, namespace, name)
        assert kept is not None
        assert MANAGED_LABEL not in (kept["metadata"].get("labels") or {})
        assert not set(ORIGIN_ANNOTATIONS) & set(kept["metadata"].get("annotations") or {})
    assert a.find("Deployment", namespace, "web")["spec"]["replicas"] == 3  # type: ignore[index]
    assert world.kcp.find("Deployment", "web") is None
    assert world.kcp.find("WorkloadBinding", "deployment-web") is None

    await world.run_janitor()
    assert a.names(namespace) == ["ConfigMap/settings", "Deployment/web"], "the janitor leaves orphans' namespace"


# -- failover purge modes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("purge_mode", "kept_while_replacement_rolls_out", "kept_once_it_is_healthy"),
    [
        pytest.param("Graceful", True, False, id="Graceful keeps the old copies until the replacement is Healthy"),
        pytest.param("Immediately", False, False, id="Immediately deletes them at once"),
        pytest.param("Never", True, True, id="Never keeps them"),
    ],
)
async def test_purge_modes(
    purge_mode: str, kept_while_replacement_rolls_out: bool, kept_once_it_is_healthy: bool
) -> None:
    world = World("a", "b", copy_watches=True)
    await placed(world, {"a": 3})
    old = physical_namespace("a")
    world["a"].set_status("Deployment", old, "web", available(3))
    await world.reconcile()
    assert world.entries()["a"]["health"] == "Healthy"

    def move_to_b(b: JSON) -> None:
        b["spec"].update(clusters=[{"name": "b", "replicas": 3}], purgeMode=purge_mode)

    world.kcp.edit("WorkloadBinding", "deployment-web", move_to_b)
    world.clock.advance(10)
    await world.reconcile()

    assert world["b"].find("Deployment", physical_namespace("b"), "web") is not None, "make before break"
    assert (world["a"].find("Deployment", old, "web") is not None) == kept_while_replacement_rolls_out
    if kept_while_replacement_rolls_out:
        reason = {"Graceful": "AwaitingReplacement", "Never": "Retained"}[purge_mode]
        assert world.entries()["a"]["reason"] == reason

    world["b"].set_status("Deployment", physical_namespace("b"), "web", available(3))
    world.clock.advance(10)
    await world.reconcile()

    assert world.entries()["b"]["health"] == "Healthy"
    assert (world["a"].find("Deployment", old, "web") is not None) == kept_once_it_is_healthy
    assert ("a" in world.entries()) == kept_once_it_is_healthy


async def test_graceful_purge_keeps_an_unreachable_old_clusters_copies_until_it_is_back() -> None:
    world = World("a", "b", copy_watches=True)
    await placed(world, {"a": 3})
    world.clusters.down["a"] = "HeartbeatMissed"
    world.kcp.edit(
        "WorkloadBinding", "deployment-web", lambda b: b["spec"].update(clusters=[{"name": "b", "replicas": 3}])
    )
    world.clock.advance(10)
    await world.reconcile()
    world["b"].set_status("Deployment", physical_namespace("b"), "web", available(3))
    world.clock.advance(10)

    assert await world.reconcile() == Result(requeue_after=SyncSettings().retry_after)
    entry = world.entries()["a"]
    assert (entry["health"], entry["reason"]) == ("Unknown", "CleanupPending")
    assert ("Warning", "FailedOver") in world.kcp.events()

    del world.clusters.down["a"]
    await world.reconcile()
    assert world["a"].names(physical_namespace("a")) == []
    assert "a" not in world.entries()


# -- cheap when nothing changed -----------------------------------------------------------------------------


@pytest.mark.parametrize("copy_watches", [pytest.param(False, id="no copy watch"), pytest.param(True, id="watched")])
async def test_unchanged_input_is_not_sent_again_and_status_is_not_rewritten(copy_watches: bool) -> None:
    world = World("a", "b", copy_watches=copy_watches)
    await placed(world, {"a": 2, "b": 1})
    world.clock.advance(30)
    await world.reconcile()  # a watched copy's first observed state is news: written once
    requests = {name: len(world[name].requests) for name in ("a", "b")}
    writes = len(world.kcp.writes)

    world.clock.advance(60)
    assert await world.reconcile() == Result()

    assert {name: len(world[name].requests) for name in ("a", "b")} == requests, "no cluster contacted"
    assert world.kcp.writes[writes:] == [], "no write to kcp"


async def test_a_changed_workload_is_applied_again() -> None:
    world = World("a")
    await placed(world, {"a": 3})
    world.kcp.edit(
        "Deployment", "web", lambda d: d["spec"]["template"]["spec"]["containers"][0].update(image="nginx:1.28")
    )

    await world.reconcile()

    copy = world["a"].find("Deployment", physical_namespace("a"), "web")
    assert copy is not None
    assert copy["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"
    assert world.entries()["a"]["sourceGeneration"] == 2


# -- drift --------------------------------------------------------------------------------------------------


def delete_by_hand(cluster: FakeCluster, namespace: str) -> None:
    del cluster.objects[("Deployment", namespace, "web")]


def scale_by_hand(cluster: FakeCluster, namespace: str) -> None:
    cluster.edit("Deployment", namespace, "web", lambda d: d["spec"].update(replicas=10))


async def test_a_first_apply_is_not_a_drift_correction() -> None:
    world = World("a", copy_watches=True)
    await placed(world, {"a": 3})
    assert applies(world["a"]) == ["ConfigMap/settings", "Deployment/web"]
    assert world.reconciler.drift_corrections == 0


@pytest.mark.parametrize("listed", [True, False], ids=["watch listed", "watch not listed yet"])
async def test_right_after_the_first_apply_the_copy_is_progressing_not_unknown(listed: bool) -> None:
    """The apply's answer is the copy's state: the tenant never sees a live cluster's copy as lost in between."""
    world = World("a", copy_watches=True)
    assert world.copies is not None
    world.copies.synced = listed
    await placed(world, {"a": 3}, replicas=3)

    entry = world.entries()["a"]
    assert (entry["health"], entry["replicas"], entry["appliedGeneration"]) == ("Progressing", 0, 1)
    status = world.kcp.stored("Deployment", "web")["status"]
    available = {c["type"]: c for c in status["conditions"]}["Available"]
    assert (available["reason"], status["unavailableReplicas"]) == ("MinimumReplicasUnavailable", 3)
    assert "observedGeneration" not in status, "the copy's controller has not observed it yet"


@pytest.mark.parametrize(
    "edit",
    [pytest.param(delete_by_hand, id="deleted by hand"), pytest.param(scale_by_hand, id="scaled by hand")],
)
async def test_a_copy_changed_on_the_cluster_is_restored(edit: Callable[[FakeCluster, str], None]) -> None:
    world = World("a", copy_watches=True)
    await placed(world, {"a": 3})
    namespace = physical_namespace("a")
    world.clock.advance(CACHE_SETTLE)
    edit(world["a"], namespace)

    await world.reconcile()

    assert applies(world["a"])[-1] == "Deployment/web"
    copy = world["a"].find("Deployment", namespace, "web")
    assert copy is not None
    assert copy["spec"]["replicas"] == 3
    assert world.reconciler.drift_corrections == 1
    assert world.entries()["a"]["appliedGeneration"] == copy["metadata"]["generation"]


async def test_an_edit_by_hand_right_after_the_engines_apply_is_drift_at_once() -> None:
    """Newer than the engine's own apply can only be someone else's write: no settle time to wait out."""
    world = World("a", copy_watches=True)
    await placed(world, {"a": 3})
    namespace = physical_namespace("a")
    scale_by_hand(world["a"], namespace)

    assert await world.reconcile() == Result()

    copy = world["a"].find("Deployment", namespace, "web")
    assert copy is not None
    assert copy["spec"]["replicas"] == 3
    assert world.reconciler.drift_corrections == 1


@pytest.mark.parametrize(
    "shown",
    [
        pytest.param(None, id="the watch has not delivered the copy yet"),
        pytest.param({"generation": 1}, id="the watch still shows the generation before the engine's apply"),
    ],
)
async def test_a_watch_lagging_the_engines_own_apply_is_not_drift(shown: JSON | None) -> None:
    world = World("a", copy_watches=True)
    assert world.copies is not None
    await placed(world, {"a": 3})
    namespace = physical_namespace("a")
    world.clock.advance(10)
    world.kcp.edit("Deployment", "web", lambda d: d["spec"].update(replicas=4))
    world.kcp.edit(
        "WorkloadBinding", "deployment-web", lambda b: b["spec"].update(clusters=[{"name": "a", "replicas": 4}])
    )
    await world.reconcile()
    copy = world["a"].find("Deployment", namespace, "web")
    assert copy is not None
    assert copy["metadata"]["generation"] == 2
    sent = len(applies(world["a"]))
    stale = None if shown is None else {**copy, "metadata": {**copy["metadata"], **shown}}
    world.copies.show("a", "Deployment", namespace, "web", stale)

    world.clock.advance(CACHE_SETTLE / 2)
    assert await world.reconcile() == Result(requeue_after=CACHE_SETTLE), "looked at again once it settled"
    assert len(applies(world["a"])) == sent, "not re-applied"
    assert world.reconciler.drift_corrections == 0

    world.copies.catch_up()
    world.clock.advance(CACHE_SETTLE)
    assert await world.reconcile() == Result()
    assert len(applies(world["a"])) == sent
    assert world.reconciler.drift_corrections == 0


async def test_a_copy_still_missing_after_the_settle_time_is_restored() -> None:
    world = World("a", copy_watches=True)
    assert world.copies is not None
    await placed(world, {"a": 3})
    namespace = physical_namespace("a")
    world.copies.show("a", "Deployment", namespace, "web", None)
    world.clock.advance(CACHE_SETTLE / 2)
    assert await world.reconcile() == Result(requeue_after=CACHE_SETTLE)

    delete_by_hand(world["a"], namespace)
    world.copies.catch_up()
    world.clock.advance(CACHE_SETTLE)
    await world.reconcile()

    assert world["a"].find("Deployment", namespace, "web") is not None
    assert world.reconciler.drift_corrections == 1


# -- a lost cluster -----------------------------------------------------------------------------------------


async def test_a_lost_clusters_entry_becomes_unknown_and_stops_counting_in_the_tenants_status() -> None:
    world = World("a", "b", copy_watches=True)
    await placed(world, {"a": 4, "b": 3}, replicas=7)
    for name, replicas in {"a": 4, "b": 3}.items():
        world[name].set_status("Deployment", physical_namespace(name), "web", available(replicas))
    world.clock.advance(10)
    await world.reconcile()
    status = world.kcp.stored("Deployment", "web")["status"]
    assert (status["readyReplicas"], status["availableReplicas"], status["observedGeneration"]) == (7, 7, 1)
    assert world.binding_status()["summary"] == "a=4/4, b=3/3"

    world.clusters.down["b"] = "HeartbeatMissed"
    world.clock.advance(10)
    assert await world.reconcile() == Result()

    entry = world.entries()["b"]
    assert (entry["health"], entry["applied"], entry["reason"]) == ("Unknown", False, "HeartbeatMissed")
    status = world.kcp.stored("Deployment", "web")["status"]
    assert (status["readyReplicas"], status["availableReplicas"], status["unavailableReplicas"]) == (4, 4, 3)
    conditions = {c["type"]: c for c in status["conditions"]}
    assert (conditions["Available"]["status"], conditions["Available"]["reason"]) == ("False", "ClustersUnavailable")
    assert conditions["Available"]["message"] == "state unknown on b (HeartbeatMissed)", "says why, in a stable word"
    assert world.entries()["a"]["health"] == "Healthy"
    assert world.binding_status()["summary"] == "a=4/4, b=?/3", "a lost cluster's last count is not shown as ready"


# -- regressions found by these tests -----------------------------------------------------------------------


async def test_a_namespace_the_janitor_deleted_is_created_again_when_the_tenant_comes_back() -> None:
    world = World("a")
    await placed(world, {"a": 3})
    delete_workload(world)
    await world.reconcile()
    await world.run_janitor()
    namespace = physical_namespace("a")
    assert world["a"].namespace(namespace) is None

    world.kcp.put(deployment("api"))
    world.kcp.put(binding("api", clusters={"a": 1}))
    await world.reconcile("api")

    assert world["a"].namespace(namespace) is not None
    assert world["a"].names(namespace) == ["Deployment/api"]
    assert world.entries("api")["a"]["reason"] == "Applied"


@pytest.mark.parametrize("order", [("web", "api"), ("api", "web")], ids=["web first", "api first"])
async def test_a_dependency_shared_by_two_workloads_deleted_together_is_not_left_behind(order: tuple[str, str]) -> None:
    world = World("a")
    world.kcp.put(configmap("common"))
    for name in ("web", "api"):
        world.kcp.put(deployment(name, configmaps=["common"]))
        world.kcp.put(binding(name, clusters={"a": 1}))
        await world.reconcile(name)

    # `kubectl delete -f app.yaml`: both workloads go; their bindings still stand until the placement catches up,
    # and two workers reconcile them at once: neither sees the other's release before its own cleanup.
    for name in order:
        world.kcp.delete("Deployment", name)
    world.kcp.freeze()
    for name in order:
        await world.reconcile(name)
    world.kcp.thaw()
    for name in order:
        await world.reconcile(name)

    assert world["a"].names(physical_namespace("a")) == []


async def test_a_failed_apply_keeps_what_was_applied_before_recorded() -> None:
    world = World("a")
    await placed(world, {"a": 3})
    world["a"].fail[("apply", "Deployment", "web")] = ApiError(500, "InternalError", "etcd timeout")
    world.kcp.edit("Deployment", "web", lambda d: d["spec"].update(replicas=5))

    assert await world.reconcile() == Result(requeue_after=SyncSettings().retry_after)

    entry = world.entries()["a"]
    assert (entry["applied"], entry["reason"]) == (False, "ClusterError")
    assert sorted(o["kind"] for o in entry["objects"]) == ["ConfigMap", "Deployment"], "still ours to delete later"
