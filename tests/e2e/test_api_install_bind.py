"""TMC's APIs on real kcp: install, bind, the seed's examples, validation and tenant isolation."""

from __future__ import annotations

import copy
import secrets
from typing import Any

import pytest

from tests.unit.api.helpers import seed_example
from tests.unit.api.test_api_invalid_objects import CASES
from tmc.api import CLUSTER_REGISTRATION, WORKLOAD_PLACEMENT, get_resource
from tmc.errors import BadRequestError, ForbiddenError, InvalidError, NotFoundError
from tmc.install.bind import bind
from tmc.install.desired import TMC_WORKSPACE, expected_schema_names, export_plans
from tmc.install.install import install
from tmc.kcp.paths import ROOT, LogicalClusterPath
from tmc.kcp.resources import API_BINDINGS, API_BINDINGS_V1ALPHA1, API_EXPORTS, resource_of
from tmc.kcp.rest import KubeClient
from tmc.kcp.watching import wait_for_object
from tmc.kcp.workspaces import ensure_workspace
from tmc.local.kcp_server import KcpServer

from .conftest import BoundFactory, WorkspaceFactory

pytestmark = pytest.mark.e2e

REGISTRATIONS = resource_of(CLUSTER_REGISTRATION)
PLACEMENTS = resource_of(WORKLOAD_PLACEMENT)


async def test_a_second_install_changes_nothing(tmc_installed: None, kcp_client: KubeClient) -> None:
    before = await kcp_client.get(API_EXPORTS, "tmc.kcp.io", cluster=TMC_WORKSPACE)
    report = await install(kcp_client)
    after = await kcp_client.get(API_EXPORTS, "tmc.kcp.io", cluster=TMC_WORKSPACE)
    assert not report.changed, report.changes
    assert {outcome for _, outcome in report.changes} == {"unchanged"}
    assert before["metadata"]["resourceVersion"] == after["metadata"]["resourceVersion"]


async def test_the_export_references_schemas_named_the_kcp_way(tmc_installed: None, kcp_client: KubeClient) -> None:
    export = await kcp_client.get(API_EXPORTS, "tmc.kcp.io", cluster=TMC_WORKSPACE)
    referenced = {f"{r['name']}.{r['group']}": r["schema"] for r in export["spec"]["resources"]}
    assert referenced == expected_schema_names(export_plans()[1])
    for name in referenced.values():
        prefix, plural, group = name.split(".", 2)
        assert prefix.startswith("v")
        assert f"{plural}.{group}" in referenced
    assert export["status"]["identityHash"]


async def test_the_seed_examples_apply_unchanged_in_order(
    tmc_installed: None, kcp_client: KubeClient, new_workspace: WorkspaceFactory
) -> None:
    tenant = await new_workspace("seed")
    binding = seed_example(2)
    await kcp_client.create(API_BINDINGS_V1ALPHA1, binding, cluster=tenant)
    bound = await wait_for_object(
        kcp_client, API_BINDINGS, "tmc-binding", lambda b: b.get("status", {}).get("phase") == "Bound", cluster=tenant
    )
    assert bound["spec"]["reference"]["export"] == {"path": "root:tmc", "name": "tmc.kcp.io"}
    from tmc.install.bind import wait_for_served

    await wait_for_served(kcp_client, tenant, REGISTRATIONS, timeout=60)
    await wait_for_served(kcp_client, tenant, PLACEMENTS, timeout=60)

    registration = seed_example(3)
    await kcp_client.create(REGISTRATIONS, registration, cluster=tenant)
    placement = seed_example(4)
    await kcp_client.create(PLACEMENTS, placement, cluster=tenant, namespace="default")

    stored_registration = await kcp_client.get(REGISTRATIONS, "cluster-us-west", cluster=tenant)
    stored_placement = await kcp_client.get(PLACEMENTS, "web-app-placement", cluster=tenant, namespace="default")
    assert stored_registration["spec"]["location"] == "us-west-2"
    assert stored_registration["spec"]["capabilities"] == registration["spec"]["capabilities"]
    assert stored_placement["spec"]["strategy"] == "Spread"
    assert stored_placement["spec"]["locationSelector"] == {"matchLabels": {"region": "us-west"}}
    # Defaults from the schema are filled in by kcp.
    assert stored_placement["spec"]["numberOfClusters"]["min"] == 1


def _kind_of(obj: dict[str, Any]) -> str:
    return str(obj["kind"])


@pytest.mark.parametrize(("obj", "path", "message"), CASES)
async def test_kcp_rejects_an_invalid_object_naming_the_field(
    invalid_objects_tenant: LogicalClusterPath, kcp_client: KubeClient, obj: dict[str, Any], path: str, message: str
) -> None:
    tenant = invalid_objects_tenant
    info = get_resource(_kind_of(obj))
    resource = resource_of(info)
    body = copy.deepcopy(obj)
    namespace = "default" if info.namespaced else None
    if namespace:
        body["metadata"]["namespace"] = namespace
    # 422 for schema violations; 400 for unknown fields under strict field validation (as kubectl sends).
    with pytest.raises((InvalidError, BadRequestError)) as rejected:
        await kcp_client.create(resource, body, cluster=tenant, namespace=namespace)
    field = path.rsplit(".", 1)[-1].split("[")[0]
    assert field in rejected.value.message, rejected.value.message
    with pytest.raises(NotFoundError):
        await kcp_client.get(resource, body["metadata"]["name"], cluster=tenant, namespace=namespace)


@pytest.fixture(scope="module")
async def invalid_objects_tenant(tmc_installed: None, kcp_client: KubeClient) -> LogicalClusterPath:
    # One bound workspace serves every invalid-object case; binding per case would only add minutes.
    path = ROOT.join(f"e2e-invalid-{secrets.token_hex(4)}")
    await ensure_workspace(kcp_client, path)
    await bind(kcp_client, path)
    return path


async def test_tenants_never_see_each_others_registrations_or_placements(
    new_tenant: BoundFactory, kcp: KcpServer, kcp_client: KubeClient
) -> None:
    tenant_a, tenant_b = await new_tenant("iso-a"), await new_tenant("iso-b")
    for tenant, owner in ((tenant_a, "a"), (tenant_b, "b")):
        registration = seed_example(3)
        registration["metadata"]["labels"] = {"owner": owner}
        await kcp_client.create(REGISTRATIONS, registration, cluster=tenant)
        placement = seed_example(4)
        placement["metadata"]["labels"] = {"owner": owner}
        await kcp_client.create(PLACEMENTS, placement, cluster=tenant, namespace="default")
    for tenant, owner in ((tenant_a, "a"), (tenant_b, "b")):
        for resource in (REGISTRATIONS, PLACEMENTS):
            listing = await kcp_client.list(resource, cluster=tenant)
            assert [item["metadata"]["labels"]["owner"] for item in listing["items"]] == [owner]

    # Tenant users get admin rights in their own workspace only.
    for tenant, user in ((tenant_a, "tenant-a"), (tenant_b, "tenant-b")):
        await _grant_admin(kcp_client, tenant, user)
    async with KubeClient(kcp.user_access("tenant-a")) as alice:
        own = await alice.list(REGISTRATIONS, cluster=tenant_a)
        assert [item["metadata"]["labels"]["owner"] for item in own["items"]] == ["a"]
        with pytest.raises(ForbiddenError):
            await alice.list(REGISTRATIONS, cluster=tenant_b)
        with pytest.raises(ForbiddenError):
            await alice.get(REGISTRATIONS, "cluster-us-west", cluster=tenant_b)
        with pytest.raises(ForbiddenError):
            await alice.get(PLACEMENTS, "web-app-placement", cluster=tenant_b, namespace="default")

    # Through the export's virtual workspace: addressed with B's cluster name, only B's objects; a tenant user
    # cannot use the virtual workspace at all.
    slice_url = await _virtual_workspace_url(kcp_client)
    cluster_b = await _logical_cluster(kcp_client, tenant_b)
    async with KubeClient(kcp_client.access.with_server(slice_url)) as vw:
        via_vw = await vw.list(REGISTRATIONS, cluster=LogicalClusterPath(cluster_b))
        assert [item["metadata"]["labels"]["owner"] for item in via_vw["items"]] == ["b"]
    async with KubeClient(kcp.user_access("tenant-a").with_server(slice_url)) as alice_vw:
        with pytest.raises(ForbiddenError):
            await alice_vw.list(REGISTRATIONS, cluster=LogicalClusterPath(cluster_b))


async def _grant_admin(client: KubeClient, tenant: LogicalClusterPath, user: str) -> None:
    from tmc.kcp.resources import Resource

    bindings = Resource("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False)
    await client.create(
        bindings,
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": f"{user}-admin"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
        },
        cluster=tenant,
    )


async def _virtual_workspace_url(client: KubeClient) -> str:
    from tmc.kcp.virtual_workspace import export_virtual_workspace_url

    return await export_virtual_workspace_url(client, TMC_WORKSPACE, "tmc.kcp.io")


async def _logical_cluster(client: KubeClient, path: LogicalClusterPath) -> str:
    from tmc.kcp.resources import WORKSPACES
    from tmc.kcp.workspaces import logical_cluster_name

    assert path.parent is not None
    workspace = await client.get(WORKSPACES, path.base_name, cluster=path.parent)
    return logical_cluster_name(workspace)
