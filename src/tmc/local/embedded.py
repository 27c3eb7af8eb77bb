"""``tmc up``: bring up the embedded default and keep it running until interrupted."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
from pathlib import Path

from rich.console import Console

from tmc.kcp.paths import LogicalClusterPath
from tmc.kcp.rest import KubeClient
from tmc.kcp.workspaces import ensure_workspace
from tmc.local.environment import LocalEnvironment


async def run_embedded(state_dir: Path, cluster_names: tuple[str, ...], tenant: str, console: Console) -> None:
    tenant_path = LogicalClusterPath.parse(tenant)
    # Each run starts clean: ports and certificates are new, and stale state would only confuse.
    if state_dir.exists():
        shutil.rmtree(state_dir)
    environment = LocalEnvironment(state_dir, cluster_names)
    console.print(f"Starting kcp and {len(cluster_names)} physical clusters (first run builds binaries) ...")
    async with environment:
        async with KubeClient(environment.kcp.access) as client:
            await ensure_workspace(client, tenant_path)
        tenant_kubeconfig = state_dir / "tenant.kubeconfig"
        tenant_kubeconfig.touch(mode=0o600)
        tenant_kubeconfig.write_text(
            environment.kcp.access.with_server(environment.kcp.url + tenant_path.url_prefix).to_kubeconfig_yaml(
                tenant_path.base_name
            )
        )
        console.print("[green]Ready.[/green]")
        console.print(
            f"  kcp (root):        kubectl --kubeconfig {environment.kcp.admin_kubeconfig_path} get workspaces"
        )
        console.print(f"  tenant {tenant}: kubectl --kubeconfig {tenant_kubeconfig} get namespaces")
        for name, cluster in environment.clusters.items():
            console.print(f"  cluster {name}:  kubectl --kubeconfig {cluster.kubeconfig_path} get namespaces")
        console.print("Press Ctrl-C to stop.")
        await _until_interrupted()
        console.print("Stopping ...")


async def _until_interrupted() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)
