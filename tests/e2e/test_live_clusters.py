"""Local physical clusters are live: Deployments roll out onto kwok nodes, Services get endpoints, nodes have shape."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tmc.api.quantity import parse_bytes, parse_cpu_millis
from tmc.kcp.resources import DEPLOYMENTS, NODES, Resource
from tmc.kcp.rest import KubeClient
from tmc.kcp.watching import wait_for_object
from tmc.local.nodes import REGION_LABEL, ZONE_LABEL, NodeSpec

from .conftest import ClusterFactory

pytestmark = pytest.mark.e2e

PODS = Resource("", "v1", "pods", "Pod", namespaced=True)
SERVICES = Resource("", "v1", "services", "Service", namespaced=True)
ENDPOINT_SLICES = Resource("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", namespaced=True)


def _deployment(name: str, replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}]},
            },
        },
    }


async def _ready_endpoints(client: KubeClient, service: str, *, want: int) -> int:
    """Ready endpoints of ``service`` once there are ``want``: a list, then a watch of its EndpointSlices."""
    selector = f"kubernetes.io/service-name={service}"
    listing = await client.list(ENDPOINT_SLICES, namespace="default", label_selector=selector)
    slices = {item["metadata"]["name"]: item for item in listing["items"]}

    def count() -> int:
        return sum(
            1
            for item in slices.values()
            for endpoint in item.get("endpoints") or []
            if (endpoint.get("conditions") or {}).get("ready")
        )

    if count() >= want:
        return count()
    path = ENDPOINT_SLICES.path(None, namespace="default")
    version = listing["metadata"]["resourceVersion"]
    async for event in client.watch(path, resource_version=version, params={"labelSelector": selector}):
        obj = event["object"]
        if event["type"] in ("ADDED", "MODIFIED"):
            slices[obj["metadata"]["name"]] = obj
        elif event["type"] == "DELETED":
            slices.pop(obj["metadata"]["name"], None)
        if count() >= want:
            break
    return count()


def _available(replicas: int) -> Any:
    def check(deployment: dict[str, Any]) -> bool:
        status = deployment.get("status", {})
        conditions = {c["type"]: c["status"] for c in status.get("conditions", [])}
        return (
            status.get("availableReplicas") == replicas
            and status.get("readyReplicas") == replicas
            and status.get("observedGeneration") == deployment["metadata"]["generation"]
            and conditions.get("Available") == "True"
        )

    return check


async def test_a_deployment_rolls_out_on_kwok_nodes_and_a_service_gets_endpoints(
    physical_clusters: ClusterFactory,
) -> None:
    cluster = await physical_clusters("live-rollout", NodeSpec.in_region("us-west", count=2))
    async with KubeClient(cluster.access) as client:
        started = time.monotonic()
        await client.create(DEPLOYMENTS, _deployment("web", 6), namespace="default")
        deployment = await wait_for_object(client, DEPLOYMENTS, "web", _available(6), namespace="default", timeout=120)
        elapsed = time.monotonic() - started
        print(f"\n6-replica Deployment Available after {elapsed:.1f}s")

        assert deployment["status"]["updatedReplicas"] == 6
        pods = (await client.list(PODS, namespace="default", label_selector="app=web"))["items"]
        assert len(pods) == 6
        node_names = {node["metadata"]["name"] for node in (await client.list(NODES))["items"]}
        for pod in pods:
            assert pod["spec"]["nodeName"] in node_names, "scheduled by kube-scheduler onto a kwok node"
            assert pod["status"]["phase"] == "Running"
            ready = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
            assert ready["Ready"] == "True"
        assert {pod["spec"]["nodeName"] for pod in pods} == node_names, "the default spread uses both nodes"

        service = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 80}]},
        }
        await client.create(SERVICES, service, namespace="default")

        endpoints = await asyncio.wait_for(_ready_endpoints(client, "web", want=6), 60)
        assert endpoints == 6


async def test_nodes_carry_the_requested_shape_and_topology_labels(physical_clusters: ClusterFactory) -> None:
    shape = NodeSpec.in_region("eu-central", "eu-central-1b", count=3, cpu="8", memory="32Gi", pods=50)
    cluster = await physical_clusters("live-shape", shape)
    async with KubeClient(cluster.access) as client:
        nodes = (await client.list(NODES))["items"]
    assert len(nodes) == 3
    for node in nodes:
        assert node["metadata"]["labels"][REGION_LABEL] == "eu-central"
        assert node["metadata"]["labels"][ZONE_LABEL] == "eu-central-1b"
        allocatable = node["status"]["allocatable"]
        assert parse_cpu_millis(allocatable["cpu"]) == 8000
        assert parse_bytes(allocatable["memory"]) == 32 * 2**30
        assert allocatable["pods"] == "50"
        ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}
        assert ready["Ready"] == "True"
