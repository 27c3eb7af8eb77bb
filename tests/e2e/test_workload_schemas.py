"""The committed workload schemas are what a real kube-apiserver publishes, and it validates like kcp does.

Regenerates ``src/tmc/api/workloads/*.json`` from the kube-apiserver the harness builds and compares byte for
byte (a Kubernetes upgrade or a converter change without regeneration fails here), then sends the shared
valid and invalid manifests to that apiserver: the cases kcp accepts and refuses (test_api_install_bind.py)
are the ones the cluster accepts and refuses.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.unit.api.workload_manifests import INVALID, VALID, InvalidCase
from tmc.api import get_resource
from tmc.api.workloads import WORKLOAD_KINDS, read_schema_text
from tmc.errors import ApiError
from tmc.install.generate_workloads import generate
from tmc.kcp.resources import resource_of
from tmc.kcp.rest import KubeClient
from tmc.local.physical_cluster import PhysicalCluster

pytestmark = pytest.mark.e2e

DRY_RUN = {"dryRun": "All", "fieldValidation": "Strict"}  # as kubectl sends, nothing stored


@pytest.fixture(scope="module")
async def apiserver(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[PhysicalCluster]:
    cluster = PhysicalCluster("schemas", Path(tmp_path_factory.mktemp("schemas")))
    await cluster.start(control_plane_only=True)
    yield cluster
    await cluster.stop()


@pytest.fixture(scope="module")
async def cluster_client(apiserver: PhysicalCluster) -> AsyncIterator[KubeClient]:
    async with KubeClient(apiserver.access) as client:
        yield client


async def test_the_committed_schemas_are_what_the_kube_apiserver_generates(apiserver: PhysicalCluster) -> None:
    files = await generate(access=apiserver.access)
    assert sorted(files) == sorted(kind.file_name for kind in WORKLOAD_KINDS)
    for kind in WORKLOAD_KINDS:
        committed = read_schema_text(kind) or ""
        if committed != files[kind.file_name]:
            diff = difflib.unified_diff(
                committed.splitlines(), files[kind.file_name].splitlines(), "committed", "generated", lineterm="", n=2
            )
            excerpt = "\n".join(list(diff)[:40])
            pytest.fail(f"{kind.file_name} is out of date; run hack/generate-workload-schemas\n{excerpt}")


@pytest.mark.parametrize("kind", list(VALID))
async def test_the_cluster_accepts_the_manifests_kcp_accepts(cluster_client: KubeClient, kind: str) -> None:
    resource = resource_of(get_resource(kind))
    path = resource.path(namespace="default")
    created = await cluster_client.request("POST", path, params=DRY_RUN, body=copy.deepcopy(VALID[kind]))
    assert created["metadata"]["name"] == VALID[kind]["metadata"]["name"]


@pytest.mark.parametrize("case", INVALID, ids=[case.id for case in INVALID])
async def test_the_cluster_refuses_the_manifests_kcp_refuses(cluster_client: KubeClient, case: InvalidCase) -> None:
    resource = resource_of(get_resource(case.kind))
    with pytest.raises(ApiError) as refused:
        await cluster_client.request("POST", resource.path(namespace="default"), params=DRY_RUN, body=case.manifest)
    assert refused.value.status_code in (400, 422), refused.value.message
    # Decoding errors name the Go field path without list indexes (`spec.ports.targetPort`); the last segment
    # is in every form of the message.
    field = case.field.rsplit(".", 1)[-1].split("[")[0]
    assert field in refused.value.message, refused.value.message
