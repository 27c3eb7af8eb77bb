"""The APIExport controller repairs TMC's export and schemas in root:tmc within seconds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.unit.api.helpers import seed_example
from tmc.controllers.run import ControllerOptions, run_controllers
from tmc.errors import NotFoundError
from tmc.install.desired import TMC_WORKSPACE, expected_schema_names, export_plans
from tmc.kcp.resources import API_EXPORTS, API_EXPORTS_V1ALPHA1, API_RESOURCE_SCHEMAS, EVENTS
from tmc.kcp.rest import KubeClient
from tmc.kcp.watching import wait_for_object
from tmc.local.ports import free_port

pytestmark = pytest.mark.e2e

REPAIR_SECONDS = 30


@pytest.fixture
async def controllers(tmc_installed: None, kcp_client: KubeClient) -> AsyncIterator[None]:
    stop = asyncio.Event()
    options = ControllerOptions(health_port=free_port(), leader_election=False)
    task = asyncio.create_task(run_controllers(kcp_client.access, options, stop))
    yield
    stop.set()
    await asyncio.wait_for(task, 30)


def _references_tmc_schemas(export: dict[str, object]) -> bool:
    expected = expected_schema_names(export_plans()[1])
    spec = export.get("spec", {})
    assert isinstance(spec, dict)
    referenced = {f"{r['name']}.{r['group']}": r["schema"] for r in spec.get("resources", [])}
    return referenced == expected


async def test_a_deleted_schema_is_recreated(controllers: None, kcp_client: KubeClient) -> None:
    schema_name = expected_schema_names(export_plans()[1])["clusterregistrations.tmc.kcp.io"]
    await kcp_client.delete(API_RESOURCE_SCHEMAS, schema_name, cluster=TMC_WORKSPACE)
    recreated = await wait_for_object(
        kcp_client, API_RESOURCE_SCHEMAS, schema_name, lambda _: True, cluster=TMC_WORKSPACE, timeout=REPAIR_SECONDS
    )
    assert recreated["spec"]["names"]["kind"] == "ClusterRegistration"


async def test_the_seed_export_applied_verbatim_is_flagged_and_repaired(
    controllers: None, kcp_client: KubeClient
) -> None:
    # As if an operator had applied the seed's example 1 into root:tmc instead of running `tmc install`.
    await kcp_client.delete(API_EXPORTS, "tmc.kcp.io", cluster=TMC_WORKSPACE)
    await wait_for_absence(kcp_client, "tmc.kcp.io")
    await kcp_client.create(API_EXPORTS_V1ALPHA1, seed_example(1), cluster=TMC_WORKSPACE)

    await wait_for_object(
        kcp_client, API_EXPORTS, "tmc.kcp.io", _references_tmc_schemas, cluster=TMC_WORKSPACE, timeout=REPAIR_SECONDS
    )
    events = await kcp_client.list(EVENTS, cluster=TMC_WORKSPACE, namespace="default")
    repaired = [e for e in events["items"] if e["involvedObject"]["name"] == "tmc.kcp.io" and e["reason"] == "Repaired"]
    assert repaired, "no Repaired event recorded for the export"
    message = repaired[-1]["message"]
    assert "tmc.kcp.io.v1alpha1.ClusterRegistration" in message
    for schema_name in expected_schema_names(export_plans()[1]).values():
        assert schema_name in message


async def wait_for_absence(client: KubeClient, name: str) -> None:
    async def gone() -> None:
        while True:
            try:
                await client.get(API_EXPORTS, name, cluster=TMC_WORKSPACE)
            except NotFoundError:
                return
            await asyncio.sleep(0.2)  # deletion of an export is immediate; this only covers the round trip

    await asyncio.wait_for(gone(), REPAIR_SECONDS)
