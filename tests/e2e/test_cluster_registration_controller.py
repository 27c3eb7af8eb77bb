"""ClusterRegistration health against real kcp and real kube-apiservers, through the virtual workspace."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any

import pytest

from tmc.api import CLUSTER_REGISTRATION
from tmc.kcp.kubeconfig import ClusterAccess
from tmc.kcp.paths import LogicalClusterPath
from tmc.kcp.resources import SECRETS, resource_of
from tmc.kcp.rest import KubeClient
from tmc.kcp.watching import wait_for_object
from tmc.local.physical_cluster import PhysicalCluster

from .conftest import GRACE, HEARTBEAT, SLACK, BoundFactory, ClusterFactory

pytestmark = pytest.mark.e2e

REGISTRATIONS = resource_of(CLUSTER_REGISTRATION)


def _kubeconfig_secret(name: str, access: ClusterAccess) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": "default"},
        "data": {"kubeconfig": base64.b64encode(access.to_kubeconfig_yaml(name).encode()).decode()},
    }


def _registration(name: str, secret: str | None, location: str = "us-west-2") -> dict[str, Any]:
    spec: dict[str, Any] = {
        "location": location,
        "capabilities": [{"type": "compute", "available": True}, {"type": "storage", "available": True}],
    }
    if secret:
        spec["kubeconfigSecretRef"] = {"namespace": "default", "name": secret}
    return {
        "apiVersion": "tmc.kcp.io/v1alpha1",
        "kind": "ClusterRegistration",
        "metadata": {"name": name},
        "spec": spec,
    }


def _condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    for condition in obj.get("status", {}).get("conditions", []):
        if condition["type"] == kind:
            return dict(condition)
    return {}


def _has(kind: str, status: str, reason: str | None = None) -> Any:
    def check(obj: dict[str, Any]) -> bool:
        condition = _condition(obj, kind)
        return condition.get("status") == status and (reason is None or condition.get("reason") == reason)

    return check


async def _register(
    client: KubeClient, tenant: LogicalClusterPath, name: str, cluster: PhysicalCluster | None, *, secret: bool = True
) -> None:
    secret_name = f"{name}-kubeconfig"
    if cluster is not None and secret:
        await client.create(
            SECRETS, _kubeconfig_secret(secret_name, cluster.access), cluster=tenant, namespace="default"
        )
    await client.create(REGISTRATIONS, _registration(name, secret_name), cluster=tenant)


async def test_registered_clusters_become_ready_and_follow_an_outage(
    controllers: None, new_tenant: BoundFactory, kcp_client: KubeClient, physical_clusters: ClusterFactory
) -> None:
    tenant = await new_tenant("health")
    west, east = await physical_clusters("health-west"), await physical_clusters("health-east")
    started = time.monotonic()
    await _register(kcp_client, tenant, "west", west)
    await _register(kcp_client, tenant, "east", east)
    ready = {}
    for name in ("west", "east"):
        ready[name] = await wait_for_object(
            kcp_client,
            REGISTRATIONS,
            name,
            _has("Ready", "True", "ClusterReady"),
            cluster=tenant,
            timeout=2 * HEARTBEAT + SLACK,
        )
    print(f"both registrations Ready {time.monotonic() - started:.1f}s after creation")
    for obj in ready.values():
        status = obj["status"]
        assert status["kubernetesVersion"].startswith("v1.36")
        assert "deployments.apps/v1" in status["apiResources"]
        assert _condition(obj, "Reachable")["status"] == "True"
        assert _condition(obj, "CredentialsValid")["status"] == "True"
        compute = next(c for c in status["capabilities"] if c["type"] == "compute")
        assert compute == {**compute, "available": True, "declared": True, "discovered": True}
        assert status["lastHeartbeatTime"]
        assert all(c.get("observedGeneration") == obj["metadata"]["generation"] for c in status["conditions"])
        for token in (west.access.token, east.access.token):
            assert token
            assert token not in json.dumps(obj)

    await west.stop_apiserver()
    outage = time.monotonic()
    not_ready = await wait_for_object(
        kcp_client,
        REGISTRATIONS,
        "west",
        _has("Ready", "False", "HeartbeatMissed"),
        cluster=tenant,
        timeout=HEARTBEAT + GRACE + SLACK,
    )
    print(f"west NotReady {time.monotonic() - outage:.1f}s after its apiserver stopped")
    assert _condition(not_ready, "Reachable")["status"] == "False"
    east_now = await kcp_client.get(REGISTRATIONS, "east", cluster=tenant)
    assert _condition(east_now, "Ready")["status"] == "True"

    await west.start_apiserver()
    await wait_for_object(
        kcp_client,
        REGISTRATIONS,
        "west",
        _has("Ready", "True", "ClusterReady"),
        cluster=tenant,
        timeout=2 * HEARTBEAT + SLACK,
    )


async def test_credential_problems_are_conditions_and_fixing_the_secret_heals(
    controllers: None, new_tenant: BoundFactory, kcp_client: KubeClient, physical_clusters: ClusterFactory
) -> None:
    tenant = await new_tenant("creds")
    cluster = await physical_clusters("creds-cluster")
    await kcp_client.create(REGISTRATIONS, _registration("missing", "missing-kubeconfig"), cluster=tenant)
    await wait_for_object(
        kcp_client,
        REGISTRATIONS,
        "missing",
        _has("CredentialsValid", "False", "SecretNotFound"),
        cluster=tenant,
        timeout=2 * HEARTBEAT + SLACK,
    )
    await kcp_client.create(
        SECRETS, _kubeconfig_secret("missing-kubeconfig", cluster.access), cluster=tenant, namespace="default"
    )
    await wait_for_object(
        kcp_client, REGISTRATIONS, "missing", _has("Ready", "True"), cluster=tenant, timeout=2 * HEARTBEAT + SLACK
    )

    wrong = ClusterAccess(server=cluster.access.server, ca_data=cluster.access.ca_data, token="not-the-token")
    await kcp_client.create(SECRETS, _kubeconfig_secret("wrong-kubeconfig", wrong), cluster=tenant, namespace="default")
    await kcp_client.create(REGISTRATIONS, _registration("wrong", "wrong-kubeconfig"), cluster=tenant)
    rejected = await wait_for_object(
        kcp_client,
        REGISTRATIONS,
        "wrong",
        _has("CredentialsValid", "False", "Unauthorized"),
        cluster=tenant,
        timeout=2 * HEARTBEAT + SLACK,
    )
    assert "not-the-token" not in json.dumps(rejected)
    await kcp_client.replace(SECRETS, _kubeconfig_secret("wrong-kubeconfig", cluster.access), cluster=tenant)
    await wait_for_object(
        kcp_client, REGISTRATIONS, "wrong", _has("Ready", "True"), cluster=tenant, timeout=2 * HEARTBEAT + SLACK
    )


async def test_a_registration_never_reads_another_tenants_secret(
    controllers: None, new_tenant: BoundFactory, kcp_client: KubeClient, physical_clusters: ClusterFactory
) -> None:
    tenant_a, tenant_b = await new_tenant("iso-a"), await new_tenant("iso-b")
    cluster = await physical_clusters("isolation-cluster")
    await kcp_client.create(
        SECRETS, _kubeconfig_secret("only-in-b", cluster.access), cluster=tenant_b, namespace="default"
    )
    await kcp_client.create(REGISTRATIONS, _registration("borrower", "only-in-b"), cluster=tenant_a)
    await wait_for_object(
        kcp_client,
        REGISTRATIONS,
        "borrower",
        _has("CredentialsValid", "False", "SecretNotFound"),
        cluster=tenant_a,
        timeout=2 * HEARTBEAT + SLACK,
    )
    # Several heartbeats later it is still failed: no lookup falls through to another workspace.
    await asyncio.sleep(3 * HEARTBEAT)
    still = await kcp_client.get(REGISTRATIONS, "borrower", cluster=tenant_a)
    assert _condition(still, "CredentialsValid")["reason"] == "SecretNotFound"
    assert _condition(still, "Ready")["status"] == "False"


async def test_kcp_itself_is_refused_as_a_cluster_even_where_loopback_is_allowed(
    controllers: None, new_tenant: BoundFactory, kcp_client: KubeClient
) -> None:
    tenant = await new_tenant("kcp-self")
    # kcp listens on loopback here, which these controllers allow for the local clusters.
    at_kcp = ClusterAccess(server=kcp_client.access.server, ca_data=kcp_client.access.ca_data, token="tenant-token")
    await kcp_client.create(SECRETS, _kubeconfig_secret("at-kcp", at_kcp), cluster=tenant, namespace="default")
    await kcp_client.create(REGISTRATIONS, _registration("at-kcp", "at-kcp"), cluster=tenant)
    refused = await wait_for_object(
        kcp_client,
        REGISTRATIONS,
        "at-kcp",
        _has("CredentialsValid", "False", "ServerAddressNotAllowed"),
        cluster=tenant,
        timeout=2 * HEARTBEAT + SLACK,
    )
    assert "kcp's own" in _condition(refused, "CredentialsValid")["message"]
