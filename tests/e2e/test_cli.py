"""The ``tmc`` CLI as a user runs it (the installed console scripts, as processes) against real kcp and a live cluster.

``tmc register`` refuses the loopback cluster until ``--allow-cluster-cidr`` allows it (the controller's
policy), then creates the Secret and the registration, idempotently; ``tmc get clusters -o json`` and the
tables of ``get clusters`` / ``get workloads`` match what the servers hold; the kubectl plugin form
(``kubectl tmc``) works; ``tmc status`` names the leading controller.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from tmc.api import CLUSTER_REGISTRATION, WORKLOAD_PLACEMENT
from tmc.controllers.workloadplacement.bindings import BINDINGS
from tmc.errors import NotFoundError
from tmc.kcp.paths import LogicalClusterPath
from tmc.kcp.resources import DEPLOYMENTS, SECRETS, resource_of
from tmc.kcp.rest import JSON, KubeClient
from tmc.kcp.watching import wait_for_object
from tmc.local import example
from tmc.local.kcp_server import KcpServer
from tmc.local.nodes import NodeSpec

from .conftest import HEARTBEAT, SLACK, BoundFactory, ClusterFactory

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent
REGISTRATIONS = resource_of(CLUSTER_REGISTRATION)
PLACEMENTS = resource_of(WORKLOAD_PLACEMENT)


async def tmc(*args: str, kubectl_plugin: bool = False, state_dir: Path) -> tuple[int, str, str]:
    """Run the CLI as a process (never blocking the loop the controllers run in); (exit code, stdout, stderr)."""
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    env["TMC_STATE_DIR"] = str(state_dir)  # no embedded default to fall back on: flags decide
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    if kubectl_plugin:
        # kubectl finds kubectl-tmc on PATH; where kubectl is missing, run the same plugin executable directly.
        argv = ["kubectl", "tmc", *args] if shutil.which("kubectl", path=env["PATH"]) else ["kubectl-tmc", *args]
    else:
        argv = [str(BIN / "tmc"), *args]
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


def table_rows(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines()[1:] if line.strip()]


def ready_condition(obj: JSON) -> str:
    return str(next(c["status"] for c in obj["status"]["conditions"] if c["type"] == "Ready"))


async def test_register_then_get_clusters_and_workloads_show_what_the_servers_hold(
    controllers: None,
    kcp: KcpServer,
    kcp_client: KubeClient,
    new_tenant: BoundFactory,
    physical_clusters: ClusterFactory,
    tmp_path: Path,
) -> None:
    cluster = await physical_clusters("cli-west", NodeSpec.in_region("us-west", count=2, cpu="4", memory="16Gi"))
    tenant: LogicalClusterPath = await new_tenant("cli")
    cluster_kubeconfig = tmp_path / "cli-west.kubeconfig"
    cluster_kubeconfig.write_text(cluster.access.to_kubeconfig_yaml("cli-west"))
    admin = str(kcp.admin_kubeconfig_path)
    common = ["--workspace", str(tenant)]
    register = [
        "register",
        "cli-west",
        "--kubeconfig",
        str(cluster_kubeconfig),
        "--location",
        "us-west-1",
        "--label",
        "region=us-west",
        "--kcp-kubeconfig",
        admin,
        *common,
    ]

    # The local cluster listens on loopback: refused by default, as the controller would, and nothing written.
    code, out, err = await tmc(*register, state_dir=tmp_path)
    assert code == 1, out + err
    [line] = err.strip().splitlines()
    assert line.startswith("error: ServerAddressNotAllowed: the server 127.0.0.1 is a loopback address")
    assert "--allow-cluster-cidr" in line
    with pytest.raises(NotFoundError):
        await kcp_client.get(REGISTRATIONS, "cli-west", cluster=tenant)

    allowed = [*register, "--allow-cluster-cidr", "127.0.0.0/8"]
    code, out, err = await tmc(*allowed, "--wait", str(2 * HEARTBEAT + SLACK), state_dir=tmp_path)
    assert code == 0, out + err
    assert out.splitlines() == [
        "secret default/cli-west-kubeconfig created",
        "clusterregistration cli-west created",
        "clusterregistration cli-west is Ready",
    ]
    secret = await kcp_client.get(SECRETS, "cli-west-kubeconfig", cluster=tenant, namespace="default")
    assert base64.b64decode(secret["data"]["kubeconfig"]).decode() == cluster_kubeconfig.read_text()
    code, out, err = await tmc(*allowed, state_dir=tmp_path)
    assert (code, out.splitlines()) == (
        0,
        ["secret default/cli-west-kubeconfig unchanged", "clusterregistration cli-west unchanged"],
    ), err

    # -o json is the server's object; the table shows its readiness, labels, capabilities and capacity.
    code, out, err = await tmc("get", "clusters", "-o", "json", "--kubeconfig", admin, *common, state_dir=tmp_path)
    assert code == 0, err
    [listed] = json.loads(out)["items"]
    stored = await kcp_client.get(REGISTRATIONS, "cli-west", cluster=tenant)
    assert listed["kind"] == "ClusterRegistration"
    assert listed["metadata"]["uid"] == stored["metadata"]["uid"]
    assert listed["metadata"]["labels"] == stored["metadata"]["labels"] == {"region": "us-west"}
    assert listed["spec"] == stored["spec"]
    assert ready_condition(listed) == ready_condition(stored) == "True"
    code, out, err = await tmc("get", "clusters", "--kubeconfig", admin, *common, state_dir=tmp_path)
    assert code == 0, err
    status = stored["status"]
    assert table_rows(out) == [
        [
            "cli-west",
            "True",
            "us-west-1",
            "region=us-west",
            "compute",
            status["allocatable"]["cpu"],
            status["allocatable"]["memory"],
            str(status["nodeCount"]),
            status["kubernetesVersion"],
        ]
    ]
    assert status["nodeCount"] == 2

    # A workload placed by the seed's Spread: one row per copy, ready as the sync engine recorded it.
    await kcp_client.create(PLACEMENTS, example.example_placement(), cluster=tenant, namespace="default")
    await kcp_client.create(DEPLOYMENTS, example.example_deployment(3), cluster=tenant, namespace="default")
    binding = await wait_for_object(
        kcp_client,
        BINDINGS,
        example.BINDING_NAME,
        example.rolled_out,
        cluster=tenant,
        namespace="default",
        timeout=60 + SLACK,
    )
    [copy] = binding["status"]["clusters"]
    code, out, err = await tmc("get", "workloads", "--kubeconfig", admin, *common, state_dir=tmp_path)
    assert code == 0, err
    assert table_rows(out) == [
        [
            "deployment/web",
            example.PLACEMENT_NAME,
            "cli-west",
            "3",
            f"{copy['readyReplicas']}/3",
            copy["health"],
            "True",
        ]
    ]
    assert copy["readyReplicas"] == 3

    # The kubectl plugin form, on the placement the workload came from.
    code, out, err = await tmc(
        "get", "placements", "--kubeconfig", admin, *common, kubectl_plugin=True, state_dir=tmp_path
    )
    assert code == 0, err
    placement = await kcp_client.get(PLACEMENTS, example.PLACEMENT_NAME, cluster=tenant, namespace="default")
    assert placement["status"]["selectedClusters"] == "cli-west"
    assert table_rows(out) == [[example.PLACEMENT_NAME, "Spread", "1/1", "cli-west", "True"]]

    # tmc status: kcp ready, the test's controller leading.
    code, out, err = await tmc("status", "--kubeconfig", admin, state_dir=tmp_path)
    assert code == 0, out + err
    assert "e2e-controller is leading" in out
    assert "lag (every tenant):" in out
