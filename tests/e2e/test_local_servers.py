"""The foundation is real: kcp isolates workspaces, a physical cluster stores Deployments, data survives."""

from __future__ import annotations

import os
import secrets

import pytest

from tmc.errors import NotFoundError
from tmc.kcp.paths import LogicalClusterPath
from tmc.kcp.resources import CONFIGMAPS, DEPLOYMENTS, NAMESPACES, WORKSPACES
from tmc.kcp.rest import KubeClient
from tmc.kcp.workspaces import ensure_workspace
from tmc.local.kcp_server import KcpServer

from .conftest import ClusterFactory, WorkspaceFactory

pytestmark = pytest.mark.e2e


def _configmap(name: str, value: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "default"},
        "data": {"owner": value},
    }


async def test_two_workspaces_do_not_see_each_others_configmaps(
    kcp_client: KubeClient, new_workspace: WorkspaceFactory
) -> None:
    alpha, beta = await new_workspace("alpha"), await new_workspace("beta")
    await kcp_client.create(CONFIGMAPS, _configmap("only-alpha", "alpha"), cluster=alpha, namespace="default")
    await kcp_client.create(CONFIGMAPS, _configmap("only-beta", "beta"), cluster=beta, namespace="default")

    names_in = {}
    for path in (alpha, beta):
        listing = await kcp_client.list(CONFIGMAPS, cluster=path, namespace="default")
        names_in[path] = {item["metadata"]["name"] for item in listing["items"]}

    assert "only-alpha" in names_in[alpha]
    assert "only-beta" not in names_in[alpha]
    assert "only-beta" in names_in[beta]
    assert "only-alpha" not in names_in[beta]
    with pytest.raises(NotFoundError):
        await kcp_client.get(CONFIGMAPS, "only-alpha", cluster=beta, namespace="default")


async def test_a_physical_cluster_stores_and_serves_a_deployment(physical_clusters: ClusterFactory) -> None:
    cluster = await physical_clusters("store-check")
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
            },
        },
    }
    async with KubeClient(cluster.access) as client:
        await client.create(DEPLOYMENTS, deployment, namespace="default")
        stored = await client.get(DEPLOYMENTS, "web", namespace="default")
        version = await client.request("GET", "/version")
    assert stored["spec"]["replicas"] == 3
    assert stored["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    assert stored["metadata"]["uid"]
    assert version["gitVersion"].startswith("v1.")


async def test_kcp_keeps_workspaces_and_objects_across_a_restart(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    server = KcpServer(tmp_path_factory.mktemp("kcp-restart"))
    await server.start()
    try:
        path = LogicalClusterPath(f"root:persist-{secrets.token_hex(3)}")
        async with KubeClient(server.access) as client:
            await ensure_workspace(client, path)
            await client.create(CONFIGMAPS, _configmap("survivor", "before-restart"), cluster=path, namespace="default")
        first_pid = server.process.pid if server.process else None
        await server.restart()
        assert server.process is not None
        assert server.process.pid != first_pid
        async with KubeClient(server.access) as client:
            stored = await client.get(CONFIGMAPS, "survivor", cluster=path, namespace="default")
            workspaces = await client.list(WORKSPACES, cluster=path.parent)
        assert stored["data"] == {"owner": "before-restart"}
        assert path.base_name in {item["metadata"]["name"] for item in workspaces["items"]}
    finally:
        await server.stop()
    assert first_pid is not None
    _assert_gone(first_pid)
    assert server.process is not None
    assert server.process.pid is not None
    _assert_gone(server.process.pid)


async def test_stopping_a_physical_cluster_leaves_no_process(physical_clusters: ClusterFactory) -> None:
    cluster = await physical_clusters("leak-check")
    pids = cluster.pids()
    assert len(pids) == 5, "etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok"
    await cluster.stop()
    for pid in pids:
        _assert_gone(pid)


async def test_namespaces_are_served_in_a_fresh_workspace(
    kcp_client: KubeClient, workspace: LogicalClusterPath
) -> None:
    listing = await kcp_client.list(NAMESPACES, cluster=workspace)
    assert "default" in {item["metadata"]["name"] for item in listing["items"]}


def _assert_gone(pid: int) -> None:
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
