"""The sync engine on real kcp and live clusters: copies land, isolated per tenant, conflicts, clean removal."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.unit.api.helpers import seed_example
from tmc.api import CLUSTER_REGISTRATION, WORKLOAD_PLACEMENT
from tmc.controllers.sync.naming import MANAGED_LABEL, ORIGIN_NAME, Locator
from tmc.controllers.workloadplacement.bindings import BINDINGS
from tmc.errors import NotFoundError
from tmc.kcp.paths import LogicalClusterPath
from tmc.kcp.resources import CONFIGMAPS, DEPLOYMENTS, EVENTS, LOGICAL_CLUSTERS, NAMESPACES, SECRETS, resource_of
from tmc.kcp.rest import JSON, KubeClient
from tmc.kcp.watching import wait_for_object
from tmc.local.embedded import register
from tmc.local.nodes import NodeSpec
from tmc.local.physical_cluster import PhysicalCluster

from .conftest import HEARTBEAT, SLACK, SYNC, BoundFactory, ClusterFactory

pytestmark = pytest.mark.e2e

PLACEMENTS = resource_of(WORKLOAD_PLACEMENT)
REGISTRATIONS = resource_of(CLUSTER_REGISTRATION)


def _deployment(name: str, replicas: int, image: str = "nginx:1.27", *, namespace: str = "default") -> JSON:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name, "tier": "web"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": image,
                            "envFrom": [{"secretRef": {"name": f"{name}-secret"}}],
                            "volumeMounts": [{"name": "config", "mountPath": "/etc/app"}],
                        }
                    ],
                    "volumes": [{"name": "config", "configMap": {"name": f"{name}-config"}}],
                },
            },
        },
    }


def _dependencies(name: str, namespace: str = "default") -> list[tuple[Any, JSON]]:
    return [
        (
            CONFIGMAPS,
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": f"{name}-config", "namespace": namespace},
                "data": {"greeting": "hello"},
            },
        ),
        (
            SECRETS,
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": f"{name}-secret", "namespace": namespace},
                "data": {"TOKEN": base64.b64encode(b"s3cret").decode()},
            },
        ),
    ]


def _placement(selector_labels: dict[str, str], namespace: str = "default") -> JSON:
    placement = seed_example(4)  # the seed's Spread over region us-west, compute required
    placement["metadata"]["namespace"] = namespace
    placement["spec"]["workloadSelector"] = {
        "resources": [{"apiVersion": "apps/v1", "kind": "Deployment"}],
        "labelSelector": {"matchLabels": selector_labels},
    }
    return placement


async def _tenant(
    new_tenant: BoundFactory, client: KubeClient, clusters: dict[str, tuple[PhysicalCluster, str]], prefix: str
) -> LogicalClusterPath:
    tenant = await new_tenant(prefix)
    for name, (cluster, region) in clusters.items():
        await register(client, tenant, name, cluster, region)
    for name in clusters:
        await wait_for_object(client, REGISTRATIONS, name, _ready, cluster=tenant, timeout=2 * HEARTBEAT + SLACK)
    return tenant


def _ready(obj: JSON) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in obj.get("status", {}).get("conditions", []))


def _applied_everywhere(binding: JSON) -> bool:
    wanted = {c["name"] for c in binding.get("spec", {}).get("clusters", [])}
    status = binding.get("status", {})
    done = {c["name"] for c in status.get("clusters", []) if c.get("applied") and c.get("reason") == "Applied"}
    generation_seen = status.get("observedGeneration") == binding["metadata"].get("generation")
    return bool(wanted) and wanted <= done and generation_seen


async def _cluster_get(cluster: PhysicalCluster, resource: Any, name: str, namespace: str) -> JSON | None:
    async with KubeClient(cluster.access) as client:
        try:
            return await client.get(resource, name, namespace=namespace)
        except NotFoundError:
            return None


async def _until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """For state on a physical cluster, which has no watch shared with kcp: re-check on each short interval."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached within {timeout:.0f}s")
        await asyncio.sleep(0.2)


async def test_the_seed_spread_placement_syncs_a_deployment_with_its_config_and_follows_changes(
    controllers: None, new_tenant: BoundFactory, kcp_client: KubeClient, physical_clusters: ClusterFactory
) -> None:
    west_a = await physical_clusters("sync-west-a", NodeSpec.in_region("us-west", count=2))
    west_b = await physical_clusters("sync-west-b", NodeSpec.in_region("us-west", count=2))
    east = await physical_clusters("sync-east", NodeSpec.in_region("us-east", count=2))
    tenant = await _tenant(
        new_tenant,
        kcp_client,
        {"west-a": (west_a, "us-west"), "west-b": (west_b, "us-west"), "east": (east, "us-east")},
        "sync",
    )
    for resource, body in _dependencies("web"):
        await kcp_client.create(resource, body, cluster=tenant, namespace="default")
    await kcp_client.create(PLACEMENTS, _placement({"tier": "web"}), cluster=tenant, namespace="default")
    started = time.monotonic()
    await kcp_client.create(DEPLOYMENTS, _deployment("web", 7), cluster=tenant, namespace="default")

    binding = await wait_for_object(
        kcp_client,
        BINDINGS,
        "deployment-web",
        _applied_everywhere,
        cluster=tenant,
        namespace="default",
        timeout=2 * HEARTBEAT + SLACK,
    )
    print(f"\ncreate -> applied on both clusters: {time.monotonic() - started:.2f}s")
    shares = {c["name"]: c["replicas"] for c in binding["spec"]["clusters"]}
    assert set(shares) == {"west-a", "west-b"}
    assert sum(shares.values()) == 7
    # The finalizer, the binding's record and the workload's status are written together after the apply: the
    # finalizer may land a moment after the record.
    await wait_for_object(
        kcp_client,
        DEPLOYMENTS,
        "web",
        lambda source: "tmc.kcp.io/sync" in (source["metadata"].get("finalizers") or []),
        cluster=tenant,
        namespace="default",
        timeout=SLACK,
    )

    clusters = {"west-a": west_a, "west-b": west_b}
    logical = await _logical_cluster(kcp_client, tenant)
    for name, cluster in clusters.items():
        namespace = Locator(logical, "default", name)
        physical_namespace = namespace.physical_namespace
        copy = await _cluster_get(cluster, DEPLOYMENTS, "web", physical_namespace)
        assert copy is not None
        assert copy["spec"]["replicas"] == shares[name]
        assert copy["metadata"]["labels"][MANAGED_LABEL] == "true"
        assert copy["metadata"]["annotations"][ORIGIN_NAME] == "web"
        assert "kcp.io/cluster" not in copy["metadata"]["annotations"]
        assert await _cluster_get(cluster, CONFIGMAPS, "web-config", physical_namespace) is not None
        secret = await _cluster_get(cluster, SECRETS, "web-secret", physical_namespace)
        assert secret is not None
        assert base64.b64decode(secret["data"]["TOKEN"]) == b"s3cret"
        ns = await _cluster_get(cluster, NAMESPACES, physical_namespace, "")
        assert ns is not None
        assert namespace.owns(ns)

        async def available(
            c: PhysicalCluster = cluster, want: int = shares[name], ns_name: str = physical_namespace
        ) -> bool:
            obj = await _cluster_get(c, DEPLOYMENTS, "web", ns_name)
            return obj is not None and obj.get("status", {}).get("readyReplicas") == want

        await _until(available, 60, f"copy on {name} Ready with {shares[name]} pods on kwok nodes")
    assert await _cluster_get(east, NAMESPACES, Locator(logical, "default", "east").physical_namespace, "") is None

    updated = await kcp_client.get(DEPLOYMENTS, "web", cluster=tenant, namespace="default")
    containers = updated["spec"]["template"]["spec"]["containers"]
    containers[0]["image"] = "nginx:1.28"
    # A patch of the spec, not a replace: TMC writes the workload's status meanwhile (a new resourceVersion).
    patch = {"spec": {"template": {"spec": {"containers": containers}}}}
    await kcp_client.merge_patch(DEPLOYMENTS, "web", patch, cluster=tenant, namespace="default")
    for name, cluster in clusters.items():
        physical_namespace = Locator(logical, "default", name).physical_namespace

        async def new_image(c: PhysicalCluster = cluster, ns_name: str = physical_namespace) -> bool:
            obj = await _cluster_get(c, DEPLOYMENTS, "web", ns_name)
            return obj is not None and obj["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"

        await _until(new_image, SLACK, f"new image on {name}")

    await kcp_client.delete(DEPLOYMENTS, "web", cluster=tenant, namespace="default")
    for name, cluster in clusters.items():
        physical_namespace = Locator(logical, "default", name).physical_namespace

        async def namespace_gone(c: PhysicalCluster = cluster, ns_name: str = physical_namespace) -> bool:
            return await _cluster_get(c, NAMESPACES, ns_name, "") is None

        await _until(namespace_gone, SYNC.namespace_grace + SLACK, f"copies and empty namespace gone from {name}")
    with pytest.raises(NotFoundError):
        await kcp_client.get(DEPLOYMENTS, "web", cluster=tenant, namespace="default")


async def _logical_cluster(client: KubeClient, workspace: LogicalClusterPath) -> str:
    """The logical cluster name (what objects carry in ``kcp.io/cluster``) of a workspace path."""
    obj = await client.get(LOGICAL_CLUSTERS, "cluster", cluster=workspace)
    return str(obj["metadata"]["annotations"]["kcp.io/cluster"])


async def _place_web(client: KubeClient, tenant: LogicalClusterPath, namespace: str, replicas: int, image: str) -> None:
    if namespace != "default":
        await client.create(
            NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}, cluster=tenant
        )
    for resource, body in _dependencies("web", namespace):
        await client.create(resource, body, cluster=tenant, namespace=namespace)
    await client.create(PLACEMENTS, _placement({"tier": "web"}, namespace), cluster=tenant, namespace=namespace)
    await client.create(
        DEPLOYMENTS, _deployment("web", replicas, image, namespace=namespace), cluster=tenant, namespace=namespace
    )


async def test_two_tenants_with_the_same_names_on_one_cluster_never_touch_each_other(
    controllers: None, new_tenant: BoundFactory, kcp_client: KubeClient, physical_clusters: ClusterFactory
) -> None:
    shared = await physical_clusters("sync-shared", NodeSpec.in_region("us-west", count=2))
    tenants = {
        prefix: await _tenant(new_tenant, kcp_client, {"shared": (shared, "us-west")}, prefix)
        for prefix in ("iso-a", "iso-b")
    }
    images = {"iso-a": "nginx:1.27", "iso-b": "httpd:2.4"}
    for prefix, tenant in tenants.items():
        await _place_web(kcp_client, tenant, "prod", 2 if prefix == "iso-a" else 3, images[prefix])
    namespaces = {}
    for prefix, tenant in tenants.items():
        await wait_for_object(
            kcp_client,
            BINDINGS,
            "deployment-web",
            _applied_everywhere,
            cluster=tenant,
            namespace="prod",
            timeout=2 * HEARTBEAT + SLACK,
        )
        namespaces[prefix] = Locator(await _logical_cluster(kcp_client, tenant), "prod", "shared").physical_namespace
    assert namespaces["iso-a"] != namespaces["iso-b"]
    for prefix, replicas in (("iso-a", 2), ("iso-b", 3)):
        copy = await _cluster_get(shared, DEPLOYMENTS, "web", namespaces[prefix])
        assert copy is not None
        assert copy["spec"]["replicas"] == replicas
        assert copy["spec"]["template"]["spec"]["containers"][0]["image"] == images[prefix]

    await kcp_client.delete(DEPLOYMENTS, "web", cluster=tenants["iso-a"], namespace="prod")

    async def a_gone() -> bool:
        return await _cluster_get(shared, DEPLOYMENTS, "web", namespaces["iso-a"]) is None

    await _until(a_gone, SLACK, "tenant a's copy removed")
    survivor = await _cluster_get(shared, DEPLOYMENTS, "web", namespaces["iso-b"])
    assert survivor is not None, "tenant b's copy is untouched"
    assert survivor["spec"]["replicas"] == 3
    assert await _cluster_get(shared, CONFIGMAPS, "web-config", namespaces["iso-b"]) is not None
    assert await _cluster_get(shared, SECRETS, "web-secret", namespaces["iso-b"]) is not None


async def test_an_unmanaged_object_in_the_mapped_namespace_is_reported_and_left_untouched(
    controllers: None, new_tenant: BoundFactory, kcp_client: KubeClient, physical_clusters: ClusterFactory
) -> None:
    cluster = await physical_clusters("sync-conflict", NodeSpec.in_region("us-west", count=2))
    tenant = await _tenant(new_tenant, kcp_client, {"only": (cluster, "us-west")}, "conflict")
    namespace = Locator(await _logical_cluster(kcp_client, tenant), "default", "only").physical_namespace
    async with KubeClient(cluster.access) as direct:
        await direct.create(
            NAMESPACES, Locator(await _logical_cluster(kcp_client, tenant), "default", "only").namespace_manifest()
        )
        squatter = _deployment("web", 1, "busybox:1.36", namespace=namespace)
        squatter["spec"]["template"]["spec"] = {"containers": [{"name": "app", "image": "busybox:1.36"}]}
        await direct.create(DEPLOYMENTS, squatter, namespace=namespace)

    await _place_web(kcp_client, tenant, "default", 2, "nginx:1.27")

    def reports_conflict(binding: JSON) -> bool:
        entries = binding.get("status", {}).get("clusters", [])
        return any(e["name"] == "only" and e.get("reason") == "Conflict" for e in entries)

    binding = await wait_for_object(
        kcp_client,
        BINDINGS,
        "deployment-web",
        reports_conflict,
        cluster=tenant,
        namespace="default",
        timeout=2 * HEARTBEAT + SLACK,
    )
    (entry,) = binding["status"]["clusters"]
    assert entry["applied"] is False
    assert "Deployment web" in entry["message"]
    assert "only" in entry["message"]
    applied = next(c for c in binding["status"]["conditions"] if c["type"] == "Applied")
    assert applied["status"] == "False"
    assert applied["reason"] == "Conflict"
    events = await kcp_client.list(EVENTS, cluster=tenant, namespace="default")
    reasons = {e["reason"] for e in events["items"] if e["involvedObject"]["name"] == "web"}
    assert {"Placed", "SyncConflict"} <= reasons, reasons
    untouched = await _cluster_get(cluster, DEPLOYMENTS, "web", namespace)
    assert untouched is not None
    assert untouched["spec"]["replicas"] == 1
    assert untouched["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox:1.36"
    assert MANAGED_LABEL not in (untouched["metadata"].get("labels") or {})

    # Deleting the tenant's workload must not delete what TMC never created.
    await kcp_client.delete(DEPLOYMENTS, "web", cluster=tenant, namespace="default")
    await _until(
        lambda: _gone_from_kcp(kcp_client, tenant, "web"), SLACK, "tenant's Deployment deleted (finalizer released)"
    )
    assert await _cluster_get(cluster, DEPLOYMENTS, "web", namespace) is not None


async def _gone_from_kcp(client: KubeClient, tenant: LogicalClusterPath, name: str) -> bool:
    try:
        await client.get(DEPLOYMENTS, name, cluster=tenant, namespace="default")
    except NotFoundError:
        return True
    return False


async def test_deleting_while_the_cluster_is_down_completes_within_the_timeout_and_records_the_leak(
    controllers: None, new_tenant: BoundFactory, kcp_client: KubeClient, physical_clusters: ClusterFactory
) -> None:
    cluster = await physical_clusters("sync-down", NodeSpec.in_region("us-west", count=2))
    tenant = await _tenant(new_tenant, kcp_client, {"down": (cluster, "us-west")}, "leak")
    await _place_web(kcp_client, tenant, "default", 2, "nginx:1.27")
    await wait_for_object(
        kcp_client,
        BINDINGS,
        "deployment-web",
        _applied_everywhere,
        cluster=tenant,
        namespace="default",
        timeout=2 * HEARTBEAT + SLACK,
    )
    await cluster.stop_apiserver()
    try:
        started = time.monotonic()
        await kcp_client.delete(DEPLOYMENTS, "web", cluster=tenant, namespace="default")
        await _until(
            lambda: _gone_from_kcp(kcp_client, tenant, "web"),
            SYNC.cleanup_timeout + SLACK,
            "deletion completes although the cluster is down",
        )
        elapsed = time.monotonic() - started
        assert elapsed >= SYNC.cleanup_timeout - 1, "the engine waited for the cluster first"
        registration = await kcp_client.get(REGISTRATIONS, "down", cluster=tenant)
        leaked = registration["status"].get("orphanedCopies", [])
        assert {(o["kind"], o["name"]) for o in leaked} >= {
            ("Deployment", "web"),
            ("ConfigMap", "web-config"),
            ("Secret", "web-secret"),
        }
    finally:
        await cluster.start_apiserver()
