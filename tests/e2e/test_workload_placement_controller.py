"""WorkloadPlacement decisions on real kcp: the seed's Spread example, failover, tenant isolation."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.e2e.manifests import deployment
from tests.unit.api.helpers import seed_example
from tmc.api import CLUSTER_REGISTRATION, WORKLOAD_PLACEMENT
from tmc.api.quantity import parse_bytes, parse_cpu_millis
from tmc.controllers.workloadplacement.bindings import BINDINGS
from tmc.controllers.workloadplacement.explain import explain_placement
from tmc.kcp.paths import LogicalClusterPath
from tmc.kcp.resources import DEPLOYMENTS, resource_of
from tmc.kcp.rest import KubeClient
from tmc.kcp.watching import wait_for_object
from tmc.local.embedded import register
from tmc.local.nodes import NodeSpec
from tmc.local.physical_cluster import PhysicalCluster

from .conftest import GRACE, HEARTBEAT, SLACK, BoundFactory, ClusterFactory

pytestmark = pytest.mark.e2e

PLACEMENTS = resource_of(WORKLOAD_PLACEMENT)
REGISTRATIONS = resource_of(CLUSTER_REGISTRATION)


def _placed(obj: dict[str, Any]) -> dict[str, int]:
    return {c["name"]: c["replicas"] for c in obj.get("spec", {}).get("clusters", [])}


async def _tenant_with_clusters(
    new_tenant: BoundFactory, client: KubeClient, clusters: dict[str, tuple[PhysicalCluster, str]], prefix: str
) -> LogicalClusterPath:
    tenant = await new_tenant(prefix)
    for name, (cluster, region) in clusters.items():
        await register(client, tenant, name, cluster, region)
    # Decisions are sticky (a cluster turning Ready later does not move placed workloads), so the scenario
    # starts once every registered cluster is Ready.
    for name in clusters:
        await wait_for_object(client, REGISTRATIONS, name, _ready, cluster=tenant, timeout=2 * HEARTBEAT + SLACK)
    return tenant


def _ready(obj: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in obj.get("status", {}).get("conditions", []))


async def test_the_seed_spread_placement_picks_ready_us_west_clusters_and_fails_over(
    controllers: None, new_tenant: BoundFactory, kcp_client: KubeClient, physical_clusters: ClusterFactory
) -> None:
    west_a = await physical_clusters("place-west-a")
    west_b = await physical_clusters("place-west-b")
    east = await physical_clusters("place-east")
    tenant = await _tenant_with_clusters(
        new_tenant,
        kcp_client,
        {"west-a": (west_a, "us-west"), "west-b": (west_b, "us-west"), "east": (east, "us-east")},
        "place",
    )
    await kcp_client.create(PLACEMENTS, seed_example(4), cluster=tenant, namespace="default")
    # The controller has answered for the empty placement, so its caches hold the Ready registrations before
    # the workload appears (decisions are sticky: one taken on a stale cache would stay).
    await wait_for_object(
        kcp_client,
        PLACEMENTS,
        "web-app-placement",
        lambda p: "observedGeneration" in p.get("status", {}),
        cluster=tenant,
        namespace="default",
        timeout=2 * HEARTBEAT + SLACK,
    )
    await kcp_client.create(DEPLOYMENTS, deployment("web", replicas=5), cluster=tenant, namespace="default")

    binding = await wait_for_object(
        kcp_client,
        BINDINGS,
        "deployment-web",
        lambda b: set(_placed(b)) == {"west-a", "west-b"},
        cluster=tenant,
        namespace="default",
        timeout=2 * HEARTBEAT + SLACK,
    )
    assert sum(_placed(binding).values()) == 5
    assert binding["spec"]["placement"] == "web-app-placement"
    placement = await wait_for_object(
        kcp_client,
        PLACEMENTS,
        "web-app-placement",
        lambda p: p.get("status", {}).get("scheduledWorkloads") == 1,
        cluster=tenant,
        namespace="default",
        timeout=SLACK,
    )
    assert placement["status"]["workloads"] == 1
    scheduled = next(c for c in placement["status"]["conditions"] if c["type"] == "Scheduled")
    assert scheduled["status"] == "True"
    assert placement["status"]["observedGeneration"] == placement["metadata"]["generation"]
    verdicts = {
        v.cluster: v
        for v in await explain_placement(kcp_client, tenant, "default", "web-app-placement", now=time.time())
    }
    assert verdicts["west-a"].selected
    assert verdicts["west-b"].selected
    assert not verdicts["east"].eligible
    assert any("region" in reason for reason in verdicts["east"].reasons), verdicts["east"].reasons

    await west_b.stop_apiserver()
    try:
        await wait_for_object(
            kcp_client,
            BINDINGS,
            "deployment-web",
            lambda b: _placed(b) == {"west-a": 5},
            cluster=tenant,
            namespace="default",
            timeout=HEARTBEAT + GRACE + SLACK,
        )
        failed_over = await wait_for_object(
            kcp_client,
            PLACEMENTS,
            "web-app-placement",
            lambda p: p.get("status", {}).get("selectedClusters") == "west-a",
            cluster=tenant,
            namespace="default",
            timeout=SLACK,
        )
        assert failed_over["status"]["scheduledWorkloads"] == 1
    finally:
        await west_b.start_apiserver()
    # Decisions are sticky: west-b coming back does not move replicas again (no churn); see the closing note.


async def test_identically_named_placements_in_two_tenants_see_only_their_own_clusters(
    controllers: None, new_tenant: BoundFactory, kcp_client: KubeClient, physical_clusters: ClusterFactory
) -> None:
    shared = await physical_clusters("place-shared")
    tenant_a = await _tenant_with_clusters(new_tenant, kcp_client, {"only-a": (shared, "us-west")}, "pa")
    tenant_b = await _tenant_with_clusters(new_tenant, kcp_client, {"only-b": (shared, "us-west")}, "pb")
    for tenant in (tenant_a, tenant_b):
        await kcp_client.create(DEPLOYMENTS, deployment("web", replicas=2), cluster=tenant, namespace="default")
        await kcp_client.create(PLACEMENTS, seed_example(4), cluster=tenant, namespace="default")
    for tenant, own in ((tenant_a, "only-a"), (tenant_b, "only-b")):
        binding = await wait_for_object(
            kcp_client,
            BINDINGS,
            "deployment-web",
            lambda b: bool(_placed(b)),
            cluster=tenant,
            namespace="default",
            timeout=2 * HEARTBEAT + SLACK,
        )
        assert _placed(binding) == {own: 2}


async def test_capacity_weighted_spread_gives_the_larger_cluster_the_larger_share(
    controllers: None, new_tenant: BoundFactory, kcp_client: KubeClient, physical_clusters: ClusterFactory
) -> None:
    small = await physical_clusters("cap-small", NodeSpec.in_region("us-west", count=2, cpu="4", memory="16Gi"))
    large = await physical_clusters("cap-large", NodeSpec.in_region("us-west", count=6, cpu="4", memory="16Gi"))
    tenant = await _tenant_with_clusters(
        new_tenant, kcp_client, {"small": (small, "us-west"), "large": (large, "us-west")}, "cap"
    )
    for name, nodes in (("small", 2), ("large", 6)):
        registration = await kcp_client.get(REGISTRATIONS, name, cluster=tenant)
        status = registration["status"]
        assert status["nodeCount"] == nodes
        assert parse_cpu_millis(status["allocatable"]["cpu"]) == nodes * 4000
        assert parse_bytes(status["allocatable"]["memory"]) == nodes * 16 * 2**30
    placement = seed_example(4)
    placement["spec"]["replicaDivision"] = {"mode": "Divided", "weighting": "Capacity"}
    # Spread keeps shares within maxSkew of each other (default 1), which would even 6/2 out to 4/4.
    placement["spec"]["spread"] = {"maxSkew": 8}
    await kcp_client.create(PLACEMENTS, placement, cluster=tenant, namespace="default")
    await wait_for_object(
        kcp_client,
        PLACEMENTS,
        "web-app-placement",
        lambda p: "observedGeneration" in p.get("status", {}),
        cluster=tenant,
        namespace="default",
        timeout=2 * HEARTBEAT + SLACK,
    )
    await kcp_client.create(DEPLOYMENTS, deployment("web", replicas=8), cluster=tenant, namespace="default")
    binding = await wait_for_object(
        kcp_client,
        BINDINGS,
        "deployment-web",
        lambda b: set(_placed(b)) == {"small", "large"},
        cluster=tenant,
        namespace="default",
        timeout=2 * HEARTBEAT + SLACK,
    )
    shares = _placed(binding)
    assert sum(shares.values()) == 8
    assert shares["large"] > shares["small"], shares
    assert shares == {"large": 6, "small": 2}, "proportionate to allocatable (24 vs 8 CPUs)"
