"""TMC's APIs on real kcp: install, bind, the seed's examples, the workload kinds, claims, validation, isolation."""

from __future__ import annotations

import copy
import secrets
from typing import Any

import pytest

from tests.unit.api.helpers import seed_example
from tests.unit.api.test_api_invalid_objects import CASES
from tests.unit.api.workload_manifests import INVALID, VALID, InvalidCase
from tmc.api import CLUSTER_REGISTRATION, WORKLOAD_PLACEMENT, WORKLOAD_RESOURCES, get_resource
from tmc.api.claims import TMC_PERMISSION_CLAIMS
from tmc.errors import BadRequestError, ForbiddenError, InvalidError, NotFoundError
from tmc.install.bind import bind
from tmc.install.desired import TMC_WORKSPACE, claim_set, expected_schema_names, export_plans
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
    bound_tenant: LogicalClusterPath, kcp_client: KubeClient, obj: dict[str, Any], path: str, message: str
) -> None:
    tenant = bound_tenant
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
async def bound_tenant(tmc_installed: None, kcp_client: KubeClient) -> LogicalClusterPath:
    # One bound workspace serves every object case; binding per case would only add minutes.
    path = ROOT.join(f"e2e-bound-{secrets.token_hex(4)}")
    await ensure_workspace(kcp_client, path)
    await bind(kcp_client, path)
    return path


async def test_the_workloads_export_serves_every_workload_kind(tmc_installed: None, kcp_client: KubeClient) -> None:
    export = await kcp_client.get(API_EXPORTS, "kubernetes", cluster=TMC_WORKSPACE)
    referenced = {f"{r['name']}.{r['group'] or 'core'}": r["schema"] for r in export["spec"]["resources"]}
    assert referenced == {info.group_resource: info.api_resource_schema_name() for info in WORKLOAD_RESOURCES}, (
        "the kubernetes export must reference exactly the committed schemas"
    )
    assert len(referenced) == 8


async def test_tmc_claims_every_workload_kind_by_identity_and_the_tenant_accepts_the_same_verbs(
    bound_tenant: LogicalClusterPath, kcp_client: KubeClient
) -> None:
    workloads = await kcp_client.get(API_EXPORTS, "kubernetes", cluster=TMC_WORKSPACE)
    identity = workloads["status"]["identityHash"]
    export = await kcp_client.get(API_EXPORTS, "tmc.kcp.io", cluster=TMC_WORKSPACE)
    expected = {
        (c.group, c.resource, frozenset(c.verbs), identity if c.identity_of_export else "")
        for c in TMC_PERMISSION_CLAIMS
    }
    assert claim_set(export["spec"]["permissionClaims"]) == expected
    binding = await kcp_client.get(API_BINDINGS, "tmc", cluster=bound_tenant)
    accepted = binding["spec"]["permissionClaims"]
    assert {c["state"] for c in accepted} == {"Accepted"}
    assert claim_set(accepted) == expected


@pytest.mark.parametrize("kind", list(VALID))
async def test_a_bound_tenant_stores_a_valid_object_of_every_workload_kind(
    bound_tenant: LogicalClusterPath, kcp_client: KubeClient, kind: str
) -> None:
    resource = resource_of(get_resource(kind))
    created = await kcp_client.create(resource, copy.deepcopy(VALID[kind]), cluster=bound_tenant, namespace="default")
    stored = await kcp_client.get(resource, created["metadata"]["name"], cluster=bound_tenant, namespace="default")
    assert stored["spec"] == created["spec"]
    if kind == "Deployment":
        container = stored["spec"]["template"]["spec"]["containers"][0]
        assert container["resources"]["requests"]["cpu"] == 0.5  # a numeric quantity, as clusters accept
        assert container["ports"] == [{"containerPort": 80, "protocol": "TCP"}]  # the schema's one real default
        assert "creationTimestamp" not in stored["spec"]["template"]["metadata"]  # null pruned, as on clusters
    if kind == "Service":
        assert stored["spec"]["clusterIP"] == "10.0.0.10"  # kept in kcp; the sync engine strips it
        assert [p["protocol"] for p in stored["spec"]["ports"]] == ["TCP", "TCP"]


@pytest.mark.parametrize("case", INVALID, ids=[case.id for case in INVALID])
async def test_kcp_refuses_an_invalid_workload_naming_the_field(
    bound_tenant: LogicalClusterPath, kcp_client: KubeClient, case: InvalidCase
) -> None:
    resource = resource_of(get_resource(case.kind))
    body = copy.deepcopy(case.manifest)
    body["metadata"]["name"] = f"invalid-{secrets.token_hex(3)}"
    with pytest.raises(InvalidError) as refused:
        await kcp_client.create(resource, body, cluster=bound_tenant, namespace="default")
    assert case.field in refused.value.message, refused.value.message
    with pytest.raises(NotFoundError):
        await kcp_client.get(resource, body["metadata"]["name"], cluster=bound_tenant, namespace="default")


async def test_scale_and_status_subresources_are_served(
    bound_tenant: LogicalClusterPath, kcp_client: KubeClient
) -> None:
    deployments = resource_of(get_resource("Deployment"))
    body = copy.deepcopy(VALID["Deployment"])
    body["metadata"]["name"] = "scaled"
    await kcp_client.create(deployments, body, cluster=bound_tenant, namespace="default")
    path = deployments.path(bound_tenant, namespace="default", name="scaled", subresource="scale")
    scale = await kcp_client.request("GET", path)
    assert (scale["kind"], scale["spec"]["replicas"]) == ("Scale", 3)
    await kcp_client.request("PATCH", path, body={"spec": {"replicas": 5}}, content_type="application/merge-patch+json")
    assert (await kcp_client.get(deployments, "scaled", cluster=bound_tenant, namespace="default"))["spec"][
        "replicas"
    ] == 5
    status_path = deployments.path(bound_tenant, namespace="default", name="scaled", subresource="status")
    await kcp_client.request(
        "PATCH",
        status_path,
        body={"status": {"replicas": 5, "readyReplicas": 2}},
        content_type="application/merge-patch+json",
    )
    stored = await kcp_client.get(deployments, "scaled", cluster=bound_tenant, namespace="default")
    assert (stored["status"]["readyReplicas"], stored["spec"]["replicas"]) == (2, 5)


async def test_through_the_virtual_workspace_tmc_has_exactly_the_claimed_verbs(
    bound_tenant: LogicalClusterPath, kcp_client: KubeClient
) -> None:
    slice_url = await _virtual_workspace_url(kcp_client)
    cluster = LogicalClusterPath(await _logical_cluster(kcp_client, bound_tenant))
    deployments = resource_of(get_resource("Deployment"))
    from tmc.kcp.resources import CONFIGMAPS, NAMESPACES, Resource

    service_accounts = Resource("", "v1", "serviceaccounts", "ServiceAccount", namespaced=True)
    body = copy.deepcopy(VALID["Deployment"])
    body["metadata"]["name"] = "through-vw"
    await kcp_client.create(deployments, body, cluster=bound_tenant, namespace="default")
    async with KubeClient(kcp_client.access.with_server(slice_url)) as vw:
        for info in WORKLOAD_RESOURCES:  # get/list/watch on every workload kind
            await vw.list(resource_of(info), cluster=cluster, params={"limit": 1})
        for resource in (CONFIGMAPS, NAMESPACES, service_accounts):
            await vw.list(resource, cluster=cluster, params={"limit": 1})
        # patch (the sync finalizer) is claimed ...
        patched = await vw.merge_patch(
            deployments,
            "through-vw",
            {"metadata": {"finalizers": ["tmc.kcp.io/sync"]}},
            cluster=cluster,
            namespace="default",
        )
        assert patched["metadata"]["finalizers"] == ["tmc.kcp.io/sync"]
        await vw.merge_patch(
            deployments, "through-vw", {"metadata": {"finalizers": None}}, cluster=cluster, namespace="default"
        )
        # ... but not delete or create: TMC never deletes or creates a tenant's workloads or ConfigMaps.
        with pytest.raises(ForbiddenError):
            await vw.delete(deployments, "through-vw", cluster=cluster, namespace="default")
        with pytest.raises(ForbiddenError):
            await vw.create(
                CONFIGMAPS,
                {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "default"}},
                cluster=cluster,
                namespace="default",
            )


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
