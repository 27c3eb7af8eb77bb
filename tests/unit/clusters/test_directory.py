"""ClusterDirectory: shared endpoints, Secrets from the watch cache, rebuilt on change, closed when unused."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from tmc.api import CLUSTER_REGISTRATION
from tmc.clusters import ClusterDirectory, ClusterUnavailable, CredentialsRefused, ProbeSettings
from tmc.kcp.kubeconfig import ClusterAccess
from tmc.kcp.paths import ALL_CLUSTERS, LogicalClusterPath
from tmc.kcp.resources import SECRETS, resource_of
from tmc.runtime import Informer, ObjectKey

from ._fakes import FakeCluster, Feed

JSON = dict[str, Any]
TENANT_A, TENANT_B = LogicalClusterPath("tenant-a"), LogicalClusterPath("tenant-b")


def kubeconfig(token: str = "t0k3n", **user: Any) -> str:
    return yaml.safe_dump(
        {
            "clusters": [{"name": "c", "cluster": {"server": "https://cluster.example:6443"}}],
            "users": [{"name": "u", "user": {"token": token, **user}}],
            "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
            "current-context": "x",
        }
    )


def secret(cluster: LogicalClusterPath, name: str, text: str, rv: str = "1") -> JSON:
    return {
        "metadata": {
            "name": name,
            "namespace": "default",
            "resourceVersion": rv,
            "annotations": {"kcp.io/cluster": str(cluster)},
        },
        "data": {"kubeconfig": base64.b64encode(text.encode()).decode()},
    }


def registration(cluster: LogicalClusterPath, name: str, secret_name: str) -> JSON:
    return {
        "metadata": {"name": name, "resourceVersion": "1", "annotations": {"kcp.io/cluster": str(cluster)}},
        "spec": {"location": "x", "kubeconfigSecretRef": {"namespace": "default", "name": secret_name}},
    }


def drain(world: World) -> None:
    """Forget what listeners were told so far (e.g. the first probes' results)."""
    while not world.told.empty():
        world.told.get_nowait()


@dataclass
class World:
    directory: ClusterDirectory
    secrets: Feed
    registrations: Feed
    cluster: FakeCluster
    told: asyncio.Queue[ObjectKey]
    clients_made: list[ClusterAccess]


@pytest.fixture
async def world() -> AsyncIterator[World]:
    secrets = Feed(
        [
            secret(TENANT_A, "k", kubeconfig()),
            secret(TENANT_B, "k", kubeconfig()),
            secret(TENANT_B, "exec", kubeconfig(exec={"command": "touch", "args": ["/tmp/pwned"]})),
        ]
    )
    registrations = Feed(
        [
            registration(TENANT_A, "west", "k"),
            registration(TENANT_B, "west", "k"),
            registration(TENANT_B, "hostile", "exec"),
            registration(TENANT_A, "borrower", "exec"),  # the Secret exists, but only in tenant-b
        ]
    )
    cluster, made = FakeCluster(), list[ClusterAccess]()

    def factory(access: ClusterAccess) -> Any:
        made.append(access)
        return cluster.client(access)

    reg_informer = Informer(registrations, resource_of(CLUSTER_REGISTRATION), cluster=ALL_CLUSTERS, resync_period=None)
    secret_informer = Informer(secrets, SECRETS, cluster=ALL_CLUSTERS, resync_period=None)
    directory = ClusterDirectory(
        reg_informer,
        secret_informer,
        settings=ProbeSettings(heartbeat_period=3600, probe_timeout=1),
        client_factory=factory,
    )
    told: asyncio.Queue[ObjectKey] = asyncio.Queue()
    directory.add_listener(told.put_nowait)
    for informer in (reg_informer, secret_informer):
        informer.start()
        await informer.has_synced.wait()
    async with directory:
        yield World(directory, secrets, registrations, cluster, told, made)
    await reg_informer.stop()
    await secret_informer.stop()


async def test_registrations_with_the_same_cluster_and_credentials_share_one_client_and_one_probe(
    world: World,
) -> None:
    a = await world.directory.client_for(TENANT_A, "west")
    b = await world.directory.client_for(TENANT_B, "west")
    assert a is b
    assert world.directory.endpoint_count() == 1
    assert world.cluster.requests["/readyz"] == 1
    assert world.directory.limiter(TENANT_A, "west") is world.directory.limiter(TENANT_B, "west")
    endpoint = world.directory.access(ObjectKey(str(TENANT_A), "", "west")).endpoint
    assert endpoint is not None
    assert endpoint.probe_client is not None
    assert endpoint.probe_client is not a, "the heartbeat has its own connection"


async def test_a_changed_secret_builds_a_new_client_and_tells_the_registration(world: World) -> None:
    old = await world.directory.client_for(TENANT_A, "west")
    await world.directory.client_for(TENANT_B, "west")
    drain(world)
    world.secrets.put("MODIFIED", secret(TENANT_A, "k", kubeconfig(token="rotated"), rv="2"))
    assert await world.told.get() == ObjectKey(str(TENANT_A), "", "west")
    new = await world.directory.client_for(TENANT_A, "west")
    assert new is not old
    assert new.access.token == "rotated"
    assert world.directory.endpoint_count() == 2  # tenant-b still uses the old credentials
    assert await world.directory.client_for(TENANT_B, "west") is old


async def test_an_endpoint_nobody_uses_is_closed(world: World) -> None:
    client = await world.directory.client_for(TENANT_A, "west")
    drain(world)
    world.secrets.put("MODIFIED", secret(TENANT_A, "k", kubeconfig(token="rotated"), rv="2"))
    await world.told.get()
    await world.directory.client_for(TENANT_A, "west")
    await asyncio.gather(*world.directory._closing)
    assert world.directory.endpoint_count() == 1
    assert client._http.is_closed


async def test_a_refused_kubeconfig_is_reported_and_never_gets_a_client(world: World) -> None:
    with pytest.raises(CredentialsRefused) as refused:
        await world.directory.client_for(TENANT_B, "hostile")
    assert refused.value.reason == "ExecPluginNotAllowed"
    assert "users[0].user.exec" in refused.value.message
    assert world.clients_made == []


async def test_another_workspaces_secret_is_never_used(world: World) -> None:
    with pytest.raises(CredentialsRefused) as refused:
        await world.directory.client_for(TENANT_A, "borrower")
    assert refused.value.reason == "SecretNotFound"


async def test_an_unknown_registration_and_an_unreachable_cluster_say_why(world: World) -> None:
    with pytest.raises(ClusterUnavailable) as missing:
        await world.directory.client_for(TENANT_A, "nope")
    assert missing.value.reason == "RegistrationNotFound"
    world.cluster.readyz = (503, "etcd not ready")
    with pytest.raises(ClusterUnavailable) as down:
        await world.directory.client_for(TENANT_A, "west")
    assert down.value.reason == "NotReady"
    assert "etcd not ready" in down.value.message


async def test_a_deleted_registration_releases_its_endpoint(world: World) -> None:
    await world.directory.client_for(TENANT_A, "west")
    drain(world)
    world.registrations.put("DELETED", registration(TENANT_A, "west", "k"))
    assert await world.told.get() == ObjectKey(str(TENANT_A), "", "west")
    await asyncio.gather(*world.directory._closing)
    assert world.directory.endpoint_count() == 0


async def test_a_session_holds_one_of_the_clusters_slots(world: World) -> None:
    limiter = world.directory.limiter(TENANT_A, "west")
    free = limiter._value
    async with world.directory.session(TENANT_A, "west") as client:
        assert client is await world.directory.client_for(TENANT_A, "west")
        assert limiter._value == free - 1
    assert limiter._value == free


def reported(obj: JSON, ready: str, rv: str) -> JSON:
    """``obj`` as its controller wrote it: Ready ``ready`` (True within the grace of a failed heartbeat)."""
    status = {"conditions": [{"type": "Ready", "status": ready, "reason": "R", "message": "m"}]}
    return {**obj, "metadata": {**obj["metadata"], "resourceVersion": rv}, "status": status}


async def test_a_failed_heartbeat_makes_a_cluster_unusable_only_once_its_registration_is_not_ready(
    world: World,
) -> None:
    key = ObjectKey(str(TENANT_A), "", "west")
    live = await world.directory.client_for(TENANT_A, "west")
    west = registration(TENANT_A, "west", "k")
    drain(world)
    world.registrations.put("MODIFIED", reported(west, "True", rv="2"))
    assert await asyncio.wait_for(world.told.get(), 5) == key  # Ready changed: whether it is usable may have
    endpoint = world.directory.access(key).endpoint
    assert endpoint is not None
    world.cluster.readyz = (503, "etcd not ready")
    await endpoint.probe_once()
    drain(world)

    # Within the grace (the registration still says Ready): the copies there still count, the client is handed out.
    assert await world.directory.client_for(TENANT_A, "west") is live

    world.registrations.put("MODIFIED", reported(west, "False", rv="3"))
    assert await asyncio.wait_for(world.told.get(), 5) == key
    with pytest.raises(ClusterUnavailable) as lost:
        await world.directory.client_for(TENANT_A, "west")
    assert lost.value.reason == "NotReady"

    world.registrations.put("MODIFIED", reported(west, "False", rv="4"))  # nothing about Ready changed
    world.registrations.put("MODIFIED", reported(west, "True", rv="5"))
    assert await asyncio.wait_for(world.told.get(), 5) == key
    assert world.told.empty()
