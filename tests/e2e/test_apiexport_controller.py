"""The APIExport controller repairs TMC's export and schemas in root:tmc within seconds.

Each test owns its controller process (``start_controllers``) and starts it at the point its scenario
needs, never racing it: root:tmc is shared by the whole session, so anything a running controller might
rewrite in the middle of a test's own edits would make the outcome depend on timing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from tests.unit.api.helpers import seed_example
from tmc.controllers.run import ControllerOptions, run_controllers
from tmc.install.desired import TMC_WORKSPACE, expected_schema_names, export_plans
from tmc.kcp.resources import API_EXPORTS, API_EXPORTS_V1ALPHA1, API_RESOURCE_SCHEMAS, EVENTS, Resource
from tmc.kcp.rest import JSON, KubeClient
from tmc.kcp.watching import wait_for_object
from tmc.local.ports import free_port

pytestmark = pytest.mark.e2e

REPAIR_SECONDS = 30


@pytest.fixture
async def start_controllers(tmc_installed: None, kcp_client: KubeClient) -> AsyncIterator[Callable[[], None]]:
    """Starts this test's own controllers when called; stops them after the test."""
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []

    def start() -> None:
        options = ControllerOptions(health_port=free_port(), leader_election=False)
        tasks.append(asyncio.create_task(run_controllers(kcp_client.access, options, stop)))

    yield start
    stop.set()
    for task in tasks:
        await asyncio.wait_for(task, 30)


def _references_tmc_schemas(export: JSON) -> bool:
    expected = expected_schema_names(export_plans()[1])
    referenced = {f"{r['name']}.{r['group']}": r["schema"] for r in export.get("spec", {}).get("resources", [])}
    return referenced == expected


async def test_a_deleted_schema_is_recreated(start_controllers: Callable[[], None], kcp_client: KubeClient) -> None:
    start_controllers()
    schema_name = expected_schema_names(export_plans()[1])["clusterregistrations.tmc.kcp.io"]
    await kcp_client.delete(API_RESOURCE_SCHEMAS, schema_name, cluster=TMC_WORKSPACE)
    recreated = await wait_for_object(
        kcp_client, API_RESOURCE_SCHEMAS, schema_name, lambda _: True, cluster=TMC_WORKSPACE, timeout=REPAIR_SECONDS
    )
    assert recreated["spec"]["names"]["kind"] == "ClusterRegistration"


async def test_the_seed_export_applied_verbatim_is_flagged_and_repaired(
    start_controllers: Callable[[], None], kcp_client: KubeClient
) -> None:
    # As if an operator had applied the seed's example 1 into root:tmc instead of running `tmc install`, and
    # then started the controller. Swapped while no controller runs: a running one recreates a deleted export
    # at once, and the seed's create would then meet TMC's export (AlreadyExists) or be repaired half-way.
    await kcp_client.delete(API_EXPORTS, "tmc.kcp.io", cluster=TMC_WORKSPACE)
    await _wait_for_absence(kcp_client, API_EXPORTS, "tmc.kcp.io")
    seed = await kcp_client.create(API_EXPORTS_V1ALPHA1, seed_example(1), cluster=TMC_WORKSPACE)
    start_controllers()

    await wait_for_object(
        kcp_client, API_EXPORTS, "tmc.kcp.io", _references_tmc_schemas, cluster=TMC_WORKSPACE, timeout=REPAIR_SECONDS
    )
    # The event is recorded after the export is replaced, so it is awaited too; and it is the one about this
    # export (its uid): root:tmc keeps the Repaired events of every earlier repair in the session, listed in
    # name order, which is a hash and says nothing about which came last.
    event = await _wait_for_event(kcp_client, involved_uid=seed["metadata"]["uid"], reason="Repaired")
    assert event["involvedObject"]["name"] == "tmc.kcp.io"
    message = event["message"]
    assert "tmc.kcp.io.v1alpha1.ClusterRegistration" in message
    for schema_name in expected_schema_names(export_plans()[1]).values():
        assert schema_name in message


async def _wait_for_absence(client: KubeClient, resource: Resource, name: str) -> None:
    """Until ``name`` is gone: a list by name, then a watch from that list for its DELETED event."""
    by_name = {"fieldSelector": f"metadata.name={name}"}

    async def gone() -> None:
        while True:  # a watch that ends without the event is re-listed
            listing = await client.list(resource, cluster=TMC_WORKSPACE, params=by_name)
            if not listing["items"]:
                return
            version = listing["metadata"]["resourceVersion"]
            async for event in client.watch(resource.path(TMC_WORKSPACE), resource_version=version, params=by_name):
                if event["type"] == "DELETED":
                    return

    await asyncio.wait_for(gone(), REPAIR_SECONDS)


async def _wait_for_event(client: KubeClient, *, involved_uid: str, reason: str) -> JSON:
    """The first Event in root:tmc about the object with ``involved_uid`` and ``reason``: a list, then a watch."""
    selector = {"fieldSelector": f"involvedObject.uid={involved_uid},reason={reason}"}

    async def first() -> JSON:
        while True:  # a watch that ends without the event is re-listed
            listing = await client.list(EVENTS, cluster=TMC_WORKSPACE, namespace="default", params=selector)
            if listing["items"]:
                found: JSON = listing["items"][0]
                return found
            version = listing["metadata"]["resourceVersion"]
            path = EVENTS.path(TMC_WORKSPACE, namespace="default")
            async for event in client.watch(path, resource_version=version, params=selector):
                if event["type"] == "ADDED":
                    added: JSON = event["object"]
                    return added

    return await asyncio.wait_for(first(), REPAIR_SECONDS)
