"""A connection the cluster directory closes takes its copy watches with it.

Before, the watches of a closed connection (its registrations deleted, or their credentials rotated) kept
relisting through the closed client forever, a traceback every few seconds each.
"""

from __future__ import annotations

import asyncio

from tmc.controllers.sync.copies import WATCHED_KINDS, CopyWatches
from tmc.kcp.kubeconfig import ClusterAccess
from tmc.kcp.rest import KubeClient
from tmc.runtime import ObjectKey

from ..clusters.test_directory import TENANT_A, TENANT_B, World, drain, kubeconfig, registration, secret, world

__all__ = ["world"]  # the directory's fixture, used here


async def test_the_directory_tells_which_client_it_closed_when_credentials_rotate_or_registrations_go(
    world: World,
) -> None:
    closed: list[KubeClient] = []
    world.directory.add_closed_listener(closed.append)
    old = await world.directory.client_for(TENANT_A, "west")
    assert await world.directory.client_for(TENANT_B, "west") is old
    drain(world)

    world.secrets.put("MODIFIED", secret(TENANT_A, "k", kubeconfig(token="rotated"), rv="2"))
    await world.told.get()
    rotated = await world.directory.client_for(TENANT_A, "west")
    assert closed == [], "tenant-b still uses the old credentials"

    world.registrations.put("DELETED", registration(TENANT_B, "west", "k"))
    await _told(world, ObjectKey(str(TENANT_B), "", "west"))
    assert closed == [old]
    world.registrations.put("DELETED", registration(TENANT_A, "west", "k"))
    await _told(world, ObjectKey(str(TENANT_A), "", "west"))
    assert closed == [old, rotated]


async def _told(world: World, key: ObjectKey) -> None:
    """Until the directory's listeners hear ``key`` (probes of new endpoints may be told first)."""
    while await world.told.get() != key:
        pass


async def test_forgetting_a_client_stops_its_watches_and_starts_none_again() -> None:
    enqueued: list[ObjectKey] = []
    watches = CopyWatches(enqueued.append, resync_period=None)
    async with KubeClient(ClusterAccess(server="https://127.0.0.1:9"), timeout=1) as client:
        assert watches.informer(client, "Deployment") is None  # not listed yet (nothing answers there)
        (connection,) = watches._by_connection.values()
        informers = list(connection[1].values())
        assert {i.resource.kind for i in informers} == set(WATCHED_KINDS)
        assert all(i.running for i in informers)

        watches.forget(client)
        await asyncio.gather(*watches._stopping)

        assert not any(i.running for i in informers)
        assert watches.informer(client, "Deployment") is None
        assert watches._by_connection == {}
    await watches.close()
