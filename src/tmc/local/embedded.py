"""``tmc up``: the embedded default, kept running until interrupted.

kcp + N live local physical clusters (by default three, in two regions, of different sizes), TMC installed in
``root:tmc``, one tenant workspace bound to it with every local cluster registered (kubeconfig Secret +
ClusterRegistration, labelled with its nodes' region), and the TMC controllers running in this process.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import shutil
from collections.abc import Mapping
from pathlib import Path

from rich.console import Console

from tmc.api import CLUSTER_REGISTRATION
from tmc.controllers.run import ControllerOptions, run_controllers
from tmc.errors import ConflictError
from tmc.install.bind import bind
from tmc.install.install import install
from tmc.kcp.paths import LogicalClusterPath
from tmc.kcp.resources import SECRETS, resource_of
from tmc.kcp.rest import KubeClient
from tmc.kcp.workspaces import ensure_workspace
from tmc.local.environment import LocalEnvironment
from tmc.local.nodes import REGION_LABEL, NodeSpec
from tmc.local.physical_cluster import PhysicalCluster
from tmc.runtime import install_signal_handlers

LOCAL_CLUSTER_CIDRS = ("127.0.0.0/8", "::1/128")


async def run_embedded(
    state_dir: Path, clusters: Mapping[str, NodeSpec], tenant: str, console: Console, *, health_port: int = 8080
) -> None:
    tenant_path = LogicalClusterPath.parse(tenant)
    # Each run starts clean: ports and certificates are new, and stale state would only confuse.
    if state_dir.exists():
        shutil.rmtree(state_dir)
    environment = LocalEnvironment(state_dir, clusters)
    console.print(f"Starting kcp and {len(clusters)} live physical clusters ...")
    stop = asyncio.Event()
    remove_handlers = install_signal_handlers(stop)
    try:
        async with environment:
            async with KubeClient(environment.kcp.access) as client:
                console.print("Installing TMC into root:tmc and binding the tenant ...")
                await install(client)
                await ensure_workspace(client, tenant_path)
                await bind(client, tenant_path)
                for name, cluster in environment.clusters.items():
                    await register(client, tenant_path, name, cluster)
            tenant_kubeconfig = _write_tenant_kubeconfig(environment, state_dir, tenant_path)
            _print_access(console, environment, tenant, tenant_kubeconfig, health_port)
            # The local clusters listen on loopback, which tenant clusters may not use by default.
            options = ControllerOptions(health_port=health_port, allowed_cluster_cidrs=LOCAL_CLUSTER_CIDRS)
            await run_controllers(environment.kcp.access, options, stop)
            console.print("Stopping ...")
    finally:
        remove_handlers()


async def register(
    client: KubeClient, tenant: LogicalClusterPath, name: str, cluster: PhysicalCluster, region: str | None = None
) -> None:
    """The kubeconfig Secret and the ClusterRegistration, labelled ``region`` (default: the nodes' region)."""
    region = region or cluster.nodes.labels.get(REGION_LABEL, "local")
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": f"{name}-kubeconfig", "namespace": "default"},
        "data": {"kubeconfig": base64.b64encode(cluster.access.to_kubeconfig_yaml(name).encode()).decode()},
    }
    registration = {
        "apiVersion": "tmc.kcp.io/v1alpha1",
        "kind": "ClusterRegistration",
        "metadata": {"name": name, "labels": {"region": region}},
        "spec": {
            "location": name,
            "capabilities": [{"type": "compute", "available": True}, {"type": "storage", "available": True}],
            "kubeconfigSecretRef": {"namespace": "default", "name": f"{name}-kubeconfig"},
        },
    }
    for resource, body, namespace in (
        (SECRETS, secret, "default"),
        (resource_of(CLUSTER_REGISTRATION), registration, None),
    ):
        with contextlib.suppress(ConflictError):
            await client.create(resource, body, cluster=tenant, namespace=namespace)


def _write_tenant_kubeconfig(environment: LocalEnvironment, state_dir: Path, tenant: LogicalClusterPath) -> Path:
    path = state_dir / "tenant.kubeconfig"
    path.touch(mode=0o600)
    access = environment.kcp.access.with_server(environment.kcp.url + tenant.url_prefix)
    path.write_text(access.to_kubeconfig_yaml(tenant.base_name))
    return path


def _print_access(
    console: Console, environment: LocalEnvironment, tenant: str, tenant_kubeconfig: Path, health_port: int
) -> None:
    console.print("[green]Ready.[/green] TMC controllers are running in this process.")
    console.print(f"  kcp (root):  kubectl --kubeconfig {environment.kcp.admin_kubeconfig_path} get workspaces")
    console.print(f"  tenant {tenant}:  kubectl --kubeconfig {tenant_kubeconfig} get clusterregistrations")
    for name, cluster in environment.clusters.items():
        console.print(f"  cluster {name}:  kubectl --kubeconfig {cluster.kubeconfig_path} get namespaces")
    console.print(f"  metrics:  curl http://127.0.0.1:{health_port}/metrics")
    console.print("Press Ctrl-C to stop.")
