"""VirtualWorkspaceClient: one client per shard URL, requests routed by logical cluster, informers over all."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tmc.errors import ApiError
from tmc.kcp.kubeconfig import ClusterAccess
from tmc.kcp.paths import ALL_CLUSTERS, LogicalClusterPath
from tmc.kcp.resources import CONFIGMAPS
from tmc.kcp.virtual_workspace import UnroutableError, VirtualWorkspaceClient, endpoint_urls
from tmc.runtime import Informer, ObjectKey, RuntimeMetrics

from .fakes import eventually

SHARD_A = "https://127.0.0.1:6444/services/apiexport/root:tmc/tmc.kcp.io"
SHARD_B = "https://127.0.0.1:6445/services/apiexport/root:tmc/tmc.kcp.io"


class Shards:
    """An httpx transport playing two shards' virtual workspaces: each serves the configmaps of its clusters."""

    def __init__(self) -> None:
        self.clusters = {SHARD_A: ["ws-a"], SHARD_B: ["ws-b"]}
        self.requests: list[tuple[str, str]] = []  # (shard, path)

    def handle(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        shard = next(s for s in self.clusters if url.startswith(s))
        path = url[len(shard) :].split("?", 1)[0]
        self.requests.append((shard, f"{request.method} {path}"))
        if request.url.params.get("watch") == "true":
            return httpx.Response(200, content=b"")  # a watch the server closes at once
        if request.method == "GET" and path == "/clusters/*/api/v1/configmaps":
            items = [
                {"metadata": {"name": "cm", "namespace": "default", "annotations": {"kcp.io/cluster": c}}}
                for c in self.clusters[shard]
            ]
            return httpx.Response(200, json={"metadata": {"resourceVersion": "7"}, "items": items})
        cluster = path.split("/")[2]
        if cluster not in self.clusters[shard]:
            return httpx.Response(404, json={"kind": "Status", "reason": "NotFound", "message": "not here"})
        return httpx.Response(200, json={"metadata": {"name": "cm"}, "shard": shard, "body": _body(request)})


def _body(request: httpx.Request) -> Any:
    return json.loads(request.content) if request.content else None


def make_client(shards: Shards) -> VirtualWorkspaceClient:
    access = ClusterAccess(server="https://127.0.0.1:6443", token="t")
    return VirtualWorkspaceClient(access, transport=httpx.MockTransport(shards.handle))


async def test_without_urls_every_request_is_a_transient_error_naming_the_reason() -> None:
    client = make_client(Shards())
    with pytest.raises(UnroutableError, match="no virtual workspace URL yet") as error:
        await client.get(CONFIGMAPS, "cm", cluster=LogicalClusterPath("ws-a"), namespace="default")
    assert isinstance(error.value, ApiError)
    assert error.value.status_code == 503
    await client.close()


async def test_with_one_url_everything_goes_there() -> None:
    shards = Shards()
    client = make_client(shards)
    client.set_urls([SHARD_A])
    answer = await client.get(CONFIGMAPS, "cm", cluster=LogicalClusterPath("ws-a"), namespace="default")
    assert answer["shard"] == SHARD_A
    await client.close()


async def test_an_informer_watches_every_url_and_requests_go_to_the_shard_serving_the_cluster() -> None:
    shards = Shards()
    client = make_client(shards)
    client.set_urls([SHARD_A, SHARD_B])
    informer = Informer(client, CONFIGMAPS, cluster=ALL_CLUSTERS, resync_period=None, metrics=RuntimeMetrics())
    informer.start()
    await informer.has_synced.wait()
    assert [k.cluster for k in informer.list_keys()] == ["ws-a", "ws-b"]
    assert informer.endpoint_of(ObjectKey("ws-b", "default", "cm")) == SHARD_B
    for cluster, shard in (("ws-a", SHARD_A), ("ws-b", SHARD_B)):
        patched = await client.merge_patch(
            CONFIGMAPS, "cm", {"data": {"x": "1"}}, cluster=LogicalClusterPath(cluster), namespace="default"
        )
        assert patched["shard"] == shard
        assert patched["body"] == {"data": {"x": "1"}}
    with pytest.raises(UnroutableError, match="logical cluster ws-c"):
        await client.get(CONFIGMAPS, "cm", cluster=LogicalClusterPath("ws-c"), namespace="default")
    await informer.stop()
    await client.close()


async def test_a_url_that_goes_away_stops_its_watch_drops_its_objects_and_its_routes() -> None:
    shards = Shards()
    client = make_client(shards)
    client.set_urls([SHARD_A, SHARD_B])
    informer = Informer(client, CONFIGMAPS, cluster=ALL_CLUSTERS, resync_period=None, metrics=RuntimeMetrics())
    deleted: list[str] = []
    informer.add_handler(on_delete=lambda obj: deleted.append(obj["metadata"]["annotations"]["kcp.io/cluster"]))
    informer.start()
    await informer.has_synced.wait()
    client.set_urls([SHARD_A])
    assert deleted == ["ws-b"]
    assert client.urls == [SHARD_A]
    answer = await client.get(CONFIGMAPS, "cm", cluster=LogicalClusterPath("ws-a"), namespace="default")
    assert answer["shard"] == SHARD_A
    before = len([r for r in shards.requests if r[0] == SHARD_B])
    await eventually(lambda: len([r for r in shards.requests if r[0] == SHARD_A and "watch" not in r[1]]) >= 1)
    assert len([r for r in shards.requests if r[0] == SHARD_B]) == before, "no more requests to the old shard"
    await informer.stop()
    await client.close()


def test_endpoint_urls_reads_the_slice_status() -> None:
    endpoint_slice = {"status": {"endpoints": [{"url": SHARD_A}, {"url": ""}, {}, {"url": SHARD_B}]}}
    assert endpoint_urls(endpoint_slice) == [SHARD_A, SHARD_B]
    assert endpoint_urls({}) == []
