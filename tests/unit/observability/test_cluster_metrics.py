"""Cluster metrics: probe duration by result, registrations that are not Ready (only those), from the cache."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import yaml
from prometheus_client import CollectorRegistry

from tests.unit.clusters._fakes import FakeCluster, Feed
from tmc.api import CLUSTER_REGISTRATION
from tmc.clusters import ClusterDirectory, ProbeSettings
from tmc.clusters.metrics import RegistrationReadiness
from tmc.kcp.paths import ALL_CLUSTERS, LogicalClusterPath
from tmc.kcp.resources import SECRETS, resource_of
from tmc.runtime import Informer, ObjectKey

JSON = dict[str, Any]
TENANT = LogicalClusterPath("tenant-a")


def registration(name: str, ready: str | None = None, reason: str = "", *, deleting: bool = False) -> JSON:
    metadata: JSON = {"name": name, "resourceVersion": "1", "annotations": {"kcp.io/cluster": str(TENANT)}}
    if deleting:
        metadata["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    conditions = [] if ready is None else [{"type": "Ready", "status": ready, "reason": reason}]
    return {
        "metadata": metadata,
        "spec": {"location": "x", "kubeconfigSecretRef": {"namespace": "default", "name": "k"}},
        "status": {"conditions": conditions},
    }


def kubeconfig_secret() -> JSON:
    text = yaml.safe_dump(
        {
            "clusters": [{"name": "c", "cluster": {"server": "https://cluster.example:6443"}}],
            "users": [{"name": "u", "user": {"token": "t0k3n"}}],
            "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
            "current-context": "x",
        }
    )
    return {
        "metadata": {"name": "k", "namespace": "default", "annotations": {"kcp.io/cluster": str(TENANT)}},
        "data": {"kubeconfig": base64.b64encode(text.encode()).decode()},
    }


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


class ListOnly:
    def __init__(self, *objects: JSON) -> None:
        self.objects = list(objects)

    def list(self, cluster: str | None = None) -> list[JSON]:
        return self.objects


def test_only_registrations_that_are_not_ready_have_a_series_naming_workspace_cluster_and_reason() -> None:
    registry = CollectorRegistry()
    registry.register(
        RegistrationReadiness(
            ListOnly(
                registration("west", "True", "ClusterReady"),
                registration("east", "False", "HeartbeatMissed"),
                registration("new"),
                registration("gone", "False", "Unreachable", deleting=True),
            )
        )
    )
    assert sample(registry, "tmc_cluster_not_ready", workspace="tenant-a", cluster="east", reason="HeartbeatMissed")
    assert sample(registry, "tmc_cluster_not_ready", workspace="tenant-a", cluster="new", reason="NotProbedYet")
    assert (
        sample(registry, "tmc_cluster_not_ready", workspace="tenant-a", cluster="west", reason="ClusterReady") is None
    )
    assert sample(registry, "tmc_cluster_registrations", ready="True") == 1
    assert sample(registry, "tmc_cluster_registrations", ready="False") == 1
    assert sample(registry, "tmc_cluster_registrations", ready="Unknown") == 1
    names = {s.labels["cluster"] for m in registry.collect() if m.name == "tmc_cluster_not_ready" for s in m.samples}
    assert names == {"east", "new"}  # a registration being deleted is not reported


async def test_every_liveness_probe_is_timed_by_result_on_the_directorys_registry() -> None:
    registrations = Feed([registration("west")])
    secrets = Feed([kubeconfig_secret()])
    cluster = FakeCluster()
    registry = CollectorRegistry()
    reg_informer = Informer(registrations, resource_of(CLUSTER_REGISTRATION), cluster=ALL_CLUSTERS, resync_period=None)
    secret_informer = Informer(secrets, SECRETS, cluster=ALL_CLUSTERS, resync_period=None)
    directory = ClusterDirectory(
        reg_informer,
        secret_informer,
        settings=ProbeSettings(heartbeat_period=3600, probe_timeout=1),
        client_factory=lambda access: cluster.client(access),
        registry=registry,
    )
    for informer in (reg_informer, secret_informer):
        informer.start()
        await informer.has_synced.wait()
    try:
        async with directory:
            await directory.client_for(TENANT, "west")
            endpoint = directory.access(ObjectKey(str(TENANT), "", "west")).endpoint
            assert endpoint is not None
            cluster.fail_with = httpx.ConnectError("refused")
            await endpoint.probe_once()
    finally:
        await reg_informer.stop()
        await secret_informer.stop()
    assert sample(registry, "tmc_cluster_probe_duration_seconds_count", result="Live") == 1
    assert sample(registry, "tmc_cluster_probe_duration_seconds_count", result="Unreachable") == 1
    # The directory's registry also carries the readiness of the registrations it watches.
    assert sample(registry, "tmc_cluster_registrations", ready="Unknown") == 1
