"""Hostile tenant kubeconfigs against a real controller: each is refused with its reason, nothing is run or reached.

The controllers here run with the default address policy (no ``--allow-cluster-cidr``), so loopback and
link-local servers are refused too. All registrations are created at once in one tenant; each case then waits
for its own condition.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import json
import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tmc.controllers.clusterregistration.reconcile import HealthSettings
from tmc.controllers.run import ControllerOptions, run_controllers
from tmc.errors import NotFoundError
from tmc.install.bind import bind
from tmc.kcp.paths import ROOT, LogicalClusterPath
from tmc.kcp.resources import SECRETS, WORKSPACES
from tmc.kcp.rest import KubeClient
from tmc.kcp.watching import wait_for_object
from tmc.kcp.workspaces import ensure_workspace
from tmc.local.physical_cluster import PhysicalCluster
from tmc.local.ports import free_port

from .conftest import GRACE, HEARTBEAT, SLACK, ClusterFactory
from .test_cluster_registration_controller import REGISTRATIONS, _condition, _has, _registration

pytestmark = pytest.mark.e2e

JSON = dict[str, Any]
Mutation = Callable[[JSON, Path], None]


def _user(config: JSON) -> JSON:
    user: JSON = config["users"][0]["user"]
    return user


def _cluster(config: JSON) -> JSON:
    cluster: JSON = config["clusters"][0]["cluster"]
    return cluster


def _exec(config: JSON, sentinel: Path) -> None:
    _user(config)["exec"] = {
        "apiVersion": "client.authentication.k8s.io/v1",
        "command": "/bin/sh",
        "args": ["-c", f"touch {sentinel}"],
        "interactiveMode": "Never",
    }


# (case id, how the real cluster's kubeconfig is made hostile, reason, what the message must name)
CASES: list[tuple[str, Mutation, str, str]] = [
    ("exec-plugin", _exec, "ExecPluginNotAllowed", "users[0].user.exec"),
    (
        "auth-provider",
        lambda c, _: _user(c).update({"auth-provider": {"name": "oidc", "config": {"idp-issuer-url": "x"}}}),
        "AuthProviderNotAllowed",
        "users[0].user.auth-provider",
    ),
    (
        "token-file",
        lambda c, _: _user(c).update({"tokenFile": "/etc/shadow"}),
        "FileReferenceNotAllowed",
        "users[0].user.tokenFile",
    ),
    (
        "basic-auth",
        lambda c, _: _user(c).update({"username": "admin", "password": "admin"}),
        "BasicAuthNotAllowed",
        "users[0].user.",
    ),
    (
        "client-certificate-file",
        lambda c, _: _user(c).update({"client-certificate": "/etc/kubernetes/pki/admin.crt"}),
        "FileReferenceNotAllowed",
        "users[0].user.client-certificate",
    ),
    (
        "ca-file",
        lambda c, _: _cluster(c).update({"certificate-authority": "/etc/kubernetes/pki/ca.crt"}),
        "FileReferenceNotAllowed",
        "clusters[0].cluster.certificate-authority",
    ),
    (
        "impersonation",
        lambda c, _: _user(c).update({"as": "system:admin"}),
        "ImpersonationNotAllowed",
        "users[0].user.as",
    ),
    (
        "impersonated-groups",
        lambda c, _: _user(c).update({"as-groups": ["system:masters"]}),
        "ImpersonationNotAllowed",
        "users[0].user.as-groups",
    ),
    (
        "insecure-skip-tls-verify",
        lambda c, _: _cluster(c).update({"insecure-skip-tls-verify": True}),
        "InsecureTLSNotAllowed",
        "clusters[0].cluster.insecure-skip-tls-verify",
    ),
    (
        "proxy-url",
        lambda c, _: _cluster(c).update({"proxy-url": "http://127.0.0.1:3128"}),
        "ProxyNotAllowed",
        "clusters[0].cluster.proxy-url",
    ),
    (
        "plain-http",
        lambda c, _: _cluster(c).update({"server": _cluster(c)["server"].replace("https://", "http://")}),
        "PlainHTTPNotAllowed",
        "clusters[0].cluster.server",
    ),
    ("loopback-server", lambda c, _: None, "ServerAddressNotAllowed", "loopback"),
    (
        "localhost-by-name",
        lambda c, _: _cluster(c).update({"server": _cluster(c)["server"].replace("127.0.0.1", "localhost")}),
        "ServerAddressNotAllowed",
        "localhost (resolved)",
    ),
    (
        "cloud-metadata-server",
        lambda c, _: _cluster(c).update({"server": "https://169.254.169.254"}),
        "ServerAddressNotAllowed",
        "link-local",
    ),
]


class Hostile:
    def __init__(self, tenant: LogicalClusterPath, sentinel: Path, token: str) -> None:
        self.tenant = tenant
        self.sentinel = sentinel
        self.token = token


@pytest.fixture(scope="module")
async def hostile(
    tmc_installed: None,
    kcp_client: KubeClient,
    physical_clusters: ClusterFactory,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Hostile]:
    """Controllers with the default address policy, and one tenant holding every hostile registration."""
    cluster: PhysicalCluster = await physical_clusters("access-cluster")
    sentinel = tmp_path_factory.mktemp("exec") / "exec-plugin-ran"
    tenant = ROOT.join(f"e2e-hostile-{secrets.token_hex(4)}")
    await ensure_workspace(kcp_client, tenant)
    await bind(kcp_client, tenant)
    base = cluster.access.to_kubeconfig("access")
    for case, mutate, _, _ in CASES:
        config = copy.deepcopy(base)
        mutate(config, sentinel)
        text = yaml.safe_dump(config)
        body = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": case, "namespace": "default"},
            "data": {"kubeconfig": base64.b64encode(text.encode()).decode()},
        }
        await kcp_client.create(SECRETS, body, cluster=tenant, namespace="default")
        await kcp_client.create(REGISTRATIONS, _registration(case, case), cluster=tenant)
    stop = asyncio.Event()
    options = ControllerOptions(
        health_port=free_port(),
        leader_election=True,
        identity="e2e-default-address-policy",
        health=HealthSettings(heartbeat_period=HEARTBEAT, grace_period=GRACE, probe_timeout=5.0),
    )
    task = asyncio.create_task(run_controllers(kcp_client.access, options, stop))
    assert cluster.access.token
    yield Hostile(tenant, sentinel, cluster.access.token)
    stop.set()
    await asyncio.wait_for(task, 60)
    with contextlib.suppress(NotFoundError):
        await kcp_client.delete(WORKSPACES, tenant.base_name, cluster=ROOT)


@pytest.mark.parametrize(("case", "reason", "named"), [(c[0], c[2], c[3]) for c in CASES], ids=[c[0] for c in CASES])
async def test_a_hostile_kubeconfig_is_refused_with_its_reason(
    hostile: Hostile, kcp_client: KubeClient, case: str, reason: str, named: str
) -> None:
    refused = await wait_for_object(
        kcp_client,
        REGISTRATIONS,
        case,
        _has("CredentialsValid", "False", reason),
        cluster=hostile.tenant,
        timeout=2 * HEARTBEAT + 2 * SLACK,  # the controllers start with the first case
    )
    credentials = _condition(refused, "CredentialsValid")
    assert named in credentials["message"]
    assert _condition(refused, "Ready")["status"] == "False"
    assert _condition(refused, "Reachable")["status"] == "Unknown"
    assert "lastHeartbeatTime" not in refused["status"]
    shown = json.dumps(refused["status"])
    assert hostile.token not in shown
    for value in ("/etc/shadow", "system:admin", "system:masters"):
        assert value not in shown
    assert not hostile.sentinel.exists()


async def test_the_exec_plugin_never_ran(hostile: Hostile, kcp_client: KubeClient) -> None:
    # Every case above has been refused by now, over many heartbeats: the plugin's command never ran.
    exec_case = await kcp_client.get(REGISTRATIONS, "exec-plugin", cluster=hostile.tenant)
    assert _condition(exec_case, "CredentialsValid")["reason"] == "ExecPluginNotAllowed"
    assert not hostile.sentinel.exists()
