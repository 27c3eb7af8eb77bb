"""Sync engine part 2 on real kcp and live clusters: status comes back, drift is undone, a lost cluster fails over."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import pytest

from tmc.controllers.sync.naming import Locator
from tmc.controllers.workloadplacement.bindings import BINDINGS
from tmc.kcp.resources import DEPLOYMENTS, Resource
from tmc.kcp.rest import JSON, KubeClient
from tmc.kcp.watching import wait_for_object
from tmc.local.nodes import NodeSpec
from tmc.local.physical_cluster import PhysicalCluster

from .conftest import GRACE, HEARTBEAT, SLACK, BoundFactory, ClusterFactory
from .test_sync_engine import _cluster_get, _logical_cluster, _place_web, _tenant, _until

pytestmark = pytest.mark.e2e

PODS = Resource("", "v1", "pods", "Pod", namespaced=True)


def _rolled_out(replicas: int) -> Any:
    """What ``kubectl rollout status`` waits for (pkg/kubectl/polymorphichelpers DeploymentStatusViewer)."""

    def check(deployment: JSON) -> bool:
        status = deployment.get("status", {})
        return bool(
            status.get("observedGeneration", 0) >= deployment["metadata"]["generation"]
            and status.get("updatedReplicas") == replicas
            and status.get("replicas") == replicas
            and status.get("availableReplicas") == replicas
        )

    return check


async def _copy(cluster: PhysicalCluster, namespace: str) -> JSON | None:
    return await _cluster_get(cluster, DEPLOYMENTS, "web", namespace)


async def test_status_sums_over_clusters_and_rollout_status_waits_for_every_cluster(
    controllers: None, new_tenant: BoundFactory, kcp_client: KubeClient, physical_clusters: ClusterFactory
) -> None:
    west_a = await physical_clusters("status-west-a", NodeSpec.in_region("us-west", count=2))
    west_b = await physical_clusters("status-west-b", NodeSpec.in_region("us-west", count=2))
    tenant = await _tenant(
        new_tenant, kcp_client, {"west-a": (west_a, "us-west"), "west-b": (west_b, "us-west")}, "status"
    )
    await _place_web(kcp_client, tenant, "default", 7, "nginx:1.27")
    started = time.monotonic()
    deployment = await wait_for_object(
        kcp_client, DEPLOYMENTS, "web", _rolled_out(7), cluster=tenant, namespace="default", timeout=60
    )
    print(f"\ncreate -> tenant sees 7/7 available: {time.monotonic() - started:.2f}s")
    assert deployment["status"]["readyReplicas"] == 7
    available = next(c for c in deployment["status"]["conditions"] if c["type"] == "Available")
    assert available["status"] == "True"

    containers = deployment["spec"]["template"]["spec"]["containers"]
    containers[0]["image"] = "nginx:1.28"
    # A patch of the spec, not a replace: TMC may write the workload's status meanwhile (a new resourceVersion).
    patch = {"spec": {"template": {"spec": {"containers": containers}}}}
    updated = await kcp_client.merge_patch(DEPLOYMENTS, "web", patch, cluster=tenant, namespace="default")
    generation = updated["metadata"]["generation"]
    done = await wait_for_object(
        kcp_client, DEPLOYMENTS, "web", _rolled_out(7), cluster=tenant, namespace="default", timeout=60
    )
    assert done["status"]["observedGeneration"] == generation
    # At the moment the tenant's rollout is complete, every cluster has rolled out the new image.
    logical = await _logical_cluster(kcp_client, tenant)
    binding = await kcp_client.get(BINDINGS, "deployment-web", cluster=tenant, namespace="default")
    shares = {c["name"]: c["replicas"] for c in binding["spec"]["clusters"]}
    for name, cluster in (("west-a", west_a), ("west-b", west_b)):
        copy = await _copy(cluster, Locator(logical, "default", name).physical_namespace)
        assert copy is not None
        assert copy["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"
        assert copy["status"]["observedGeneration"] >= copy["metadata"]["generation"]
        assert copy["status"]["updatedReplicas"] == shares[name]
    entries = {e["name"]: e for e in binding["status"]["clusters"]}
    assert {e["health"] for e in entries.values()} == {"Healthy"}


async def test_a_copy_deleted_or_scaled_by_hand_is_restored_within_seconds(
    controllers: None, new_tenant: BoundFactory, kcp_client: KubeClient, physical_clusters: ClusterFactory
) -> None:
    cluster = await physical_clusters("drift", NodeSpec.in_region("us-west", count=2))
    tenant = await _tenant(new_tenant, kcp_client, {"only": (cluster, "us-west")}, "drift")
    await _place_web(kcp_client, tenant, "default", 3, "nginx:1.27")
    await wait_for_object(
        kcp_client, DEPLOYMENTS, "web", _rolled_out(3), cluster=tenant, namespace="default", timeout=60
    )
    namespace = Locator(await _logical_cluster(kcp_client, tenant), "default", "only").physical_namespace

    async with KubeClient(cluster.access) as direct:
        scaled = await direct.get(DEPLOYMENTS, "web", namespace=namespace)
        scaled["spec"]["replicas"] = 9
        await direct.replace(DEPLOYMENTS, scaled)
        started = time.monotonic()

        async def reverted() -> bool:
            copy = await _copy(cluster, namespace)
            return copy is not None and copy["spec"]["replicas"] == 3

        await _until(reverted, 5, "a copy scaled by hand is scaled back")
        print(f"\nscale reverted after {time.monotonic() - started:.2f}s")

        await direct.delete(DEPLOYMENTS, "web", namespace=namespace)
        started = time.monotonic()

        async def restored() -> bool:
            copy = await _copy(cluster, namespace)
            return copy is not None and copy["metadata"].get("deletionTimestamp") is None

        await _until(restored, 5, "a copy deleted by hand is back")
        print(f"deleted copy back after {time.monotonic() - started:.2f}s")


async def test_a_lost_cluster_is_unknown_then_fails_over_and_its_stale_copy_goes_when_it_returns(
    controllers: None, new_tenant: BoundFactory, kcp_client: KubeClient, physical_clusters: ClusterFactory
) -> None:
    small = await physical_clusters("fail-small", NodeSpec.in_region("us-west", count=2, cpu="4", memory="16Gi"))
    large = await physical_clusters("fail-large", NodeSpec.in_region("us-west", count=3, cpu="8", memory="32Gi"))
    tenant = await _tenant(new_tenant, kcp_client, {"small": (small, "us-west"), "large": (large, "us-west")}, "fail")
    logical = await _logical_cluster(kcp_client, tenant)
    namespaces = {name: Locator(logical, "default", name).physical_namespace for name in ("small", "large")}
    clusters = {"small": small, "large": large}
    await _place_web(kcp_client, tenant, "default", 7, "nginx:1.27")
    await wait_for_object(
        kcp_client, DEPLOYMENTS, "web", _rolled_out(7), cluster=tenant, namespace="default", timeout=60
    )
    binding = await kcp_client.get(BINDINGS, "deployment-web", cluster=tenant, namespace="default")
    shares = {c["name"]: c["replicas"] for c in binding["spec"]["clusters"]}
    victim = max(shares, key=lambda n: (shares[n], n))
    survivor = next(n for n in shares if n != victim)
    assert shares[victim] >= 4, shares

    peak = 0
    sampling = True

    async def sample_pods() -> None:
        nonlocal peak
        while sampling:
            total = 0
            for name, cluster in clusters.items():
                if not cluster.apiserver_running:
                    total += shares[name] if name == victim else 0  # its pods keep "running" while unreachable
                    continue
                with contextlib.suppress(Exception):
                    async with KubeClient(cluster.access, timeout=2) as direct:
                        pods = await direct.list(PODS, namespace=namespaces[name])
                        total += sum(1 for p in pods["items"] if not p["metadata"].get("deletionTimestamp"))
            peak = max(peak, total)
            await asyncio.sleep(0.25)

    sampler = asyncio.create_task(sample_pods())
    try:
        stopped = time.monotonic()  # measured from the stop request: kube-apiserver's own shutdown included
        await clusters[victim].stop_apiserver()

        def unknown(b: JSON) -> bool:
            entries = {e["name"]: e for e in b.get("status", {}).get("clusters", [])}
            return bool(entries.get(victim, {}).get("health") == "Unknown")

        await wait_for_object(
            kcp_client,
            BINDINGS,
            "deployment-web",
            unknown,
            cluster=tenant,
            namespace="default",
            timeout=HEARTBEAT + GRACE + SLACK,
        )
        print(f"\n{victim} Unknown after {time.monotonic() - stopped:.2f}s")

        def moved(b: JSON) -> bool:
            return {c["name"]: c.get("replicas") for c in b.get("spec", {}).get("clusters", [])} == {survivor: 7}

        await wait_for_object(
            kcp_client,
            BINDINGS,
            "deployment-web",
            moved,
            cluster=tenant,
            namespace="default",
            timeout=HEARTBEAT + GRACE + 10 + SLACK,
        )

        def failed_over(d: JSON) -> bool:
            status = d.get("status", {})
            available = {c["type"]: c["status"] for c in status.get("conditions", [])}.get("Available")
            return bool(status.get("readyReplicas") == 7 and status.get("replicas") == 7 and available == "True")

        await wait_for_object(
            kcp_client,
            DEPLOYMENTS,
            "web",
            failed_over,
            cluster=tenant,
            namespace="default",
            timeout=HEARTBEAT + GRACE + 10 + SLACK,
        )
        failover = time.monotonic() - stopped
        print(f"all 7 Ready on {survivor} after {failover:.2f}s")
        binding = await kcp_client.get(BINDINGS, "deployment-web", cluster=tenant, namespace="default")
        assert {c["name"]: c["replicas"] for c in binding["spec"]["clusters"]} == {survivor: 7}
        copy = await _copy(clusters[survivor], namespaces[survivor])
        assert copy is not None
        assert copy["spec"]["replicas"] == 7

        await clusters[victim].start_apiserver()

        async def stale_gone() -> bool:
            return await _copy(clusters[victim], namespaces[victim]) is None

        await _until(stale_gone, HEARTBEAT + GRACE + SLACK, f"stale copy on {victim} removed after it returned")
    finally:
        sampling = False
        await sampler
        if not clusters[victim].apiserver_running:
            await clusters[victim].start_apiserver()
    print(f"peak pods across clusters: {peak}")
    assert peak <= 7 + 4
