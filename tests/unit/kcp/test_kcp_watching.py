"""``wait_for_object`` against an in-memory API server whose state changes between two requests.

The case that matters is an object created by someone else while the waiter is between its requests: a get
that says "not found" followed by a list for a resourceVersion would start the watch after the object's
ADDED event and wait forever; one list by name and a watch from that list's resourceVersion cannot miss it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from tmc.kcp.kubeconfig import ClusterAccess
from tmc.kcp.paths import ROOT
from tmc.kcp.resources import API_RESOURCE_SCHEMAS
from tmc.kcp.rest import KubeClient
from tmc.kcp.watching import wait_for_object

JSON = dict[str, Any]
CLUSTER = ROOT.join("tmc")
NAME = "v1.widgets.example.io"


class FakeServer:
    """Objects of one resource with resourceVersions; a watch streams later events and then stays open."""

    def __init__(self, before_request: Callable[[int, FakeServer], None]) -> None:
        self.version = 10
        self.events: list[tuple[int, JSON]] = []
        self.objects: dict[str, JSON] = {}
        self.requests: list[str] = []
        self.before_request = before_request

    def create(self, name: str, **fields: Any) -> None:
        self.version += 1
        obj = {"metadata": {"name": name, "resourceVersion": str(self.version)}, **fields}
        self.objects[name] = obj
        self.events.append((self.version, {"type": "ADDED", "object": obj}))

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.before_request(len(self.requests), self)
        params = request.url.params
        collection = API_RESOURCE_SCHEMAS.path(CLUSTER)
        if request.url.path != collection:
            self.requests.append("get")
            name = request.url.path.rsplit("/", 1)[1]
            if name in self.objects:
                return httpx.Response(200, json=self.objects[name])
            return httpx.Response(404, json={"kind": "Status", "code": 404, "reason": "NotFound", "message": name})
        selected = params.get("fieldSelector", "").removeprefix("metadata.name=")
        if params.get("watch") == "true":
            self.requests.append("watch")
            since = int(params["resourceVersion"])
            later = [event for version, event in self.events if version > since]
            matching = [event for event in later if not selected or event["object"]["metadata"]["name"] == selected]
            return httpx.Response(200, content=_stream(matching))
        self.requests.append("list")
        items = [obj for name, obj in self.objects.items() if not selected or name == selected]
        return httpx.Response(200, json={"metadata": {"resourceVersion": str(self.version)}, "items": items})


async def _stream(events: list[JSON]) -> AsyncIterator[bytes]:
    for event in events:
        yield (json.dumps(event) + "\n").encode()
    await asyncio.Event().wait()  # a real watch stays open until its timeout


def _client(server: FakeServer) -> KubeClient:
    return KubeClient(ClusterAccess("https://kcp.test"), transport=httpx.MockTransport(server.handle))


async def test_an_object_created_right_after_the_first_request_is_seen() -> None:
    def controller_creates_it_after_request_one(index: int, server: FakeServer) -> None:
        if index == 1:
            server.create(NAME, spec={"group": "example.io"})

    server = FakeServer(controller_creates_it_after_request_one)
    async with _client(server) as client:
        found = await wait_for_object(client, API_RESOURCE_SCHEMAS, NAME, lambda _: True, cluster=CLUSTER, timeout=2)
    assert found["spec"] == {"group": "example.io"}
    assert server.requests == ["list", "watch"]


async def test_an_existing_object_is_returned_from_the_list_with_its_kind() -> None:
    server = FakeServer(lambda index, s: None)
    server.create(NAME, spec={"group": "example.io"})
    async with _client(server) as client:
        found = await wait_for_object(client, API_RESOURCE_SCHEMAS, NAME, lambda _: True, cluster=CLUSTER, timeout=2)
    assert (found["apiVersion"], found["kind"]) == (API_RESOURCE_SCHEMAS.api_version, "APIResourceSchema")
    assert server.requests == ["list"]


async def test_the_timeout_names_the_object_and_its_last_state() -> None:
    server = FakeServer(lambda index, s: None)
    server.create(NAME, status={"phase": "Pending"})
    async with _client(server) as client:
        with pytest.raises(TimeoutError, match=rf"{NAME} in root:tmc.*'phase': 'Pending'"):
            await wait_for_object(client, API_RESOURCE_SCHEMAS, NAME, lambda _: False, cluster=CLUSTER, timeout=0.2)
