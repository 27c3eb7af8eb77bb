"""``tmc get --watch``'s stream: a list, then events; 410 relists; a watch the server ends resumes where it was."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from tmc.cli.watch import Change, changes
from tmc.errors import GoneError
from tmc.kcp.paths import LogicalClusterPath
from tmc.kcp.resources import Resource

JSON = dict[str, Any]
THINGS = Resource("example.io", "v1", "things", "Thing", namespaced=True)
WS = LogicalClusterPath("root:acme")


def obj(name: str, version: str, **fields: Any) -> JSON:
    return {"metadata": {"name": name, "namespace": "default", "resourceVersion": version}, **fields}


class ScriptedClient:
    """Lists and watch streams in order; a watch script that is an exception is raised when it is reached."""

    def __init__(self, lists: list[list[JSON]], watches: list[list[JSON] | BaseException]) -> None:
        self.lists = lists
        self.watches = watches
        self.watched_from: list[str] = []

    async def list(self, resource: Resource, **_: Any) -> JSON:
        items = self.lists.pop(0)
        version = max((int(i["metadata"]["resourceVersion"]) for i in items), default=1)
        return {"metadata": {"resourceVersion": str(version)}, "items": items}

    async def watch(self, path: str, *, resource_version: str, **_: Any) -> AsyncIterator[JSON]:
        assert path == "/clusters/root:acme/apis/example.io/v1/namespaces/default/things"
        self.watched_from.append(resource_version)
        if not self.watches:
            raise KeyboardInterrupt  # the end of the script
        script = self.watches.pop(0)
        if isinstance(script, BaseException):
            raise script
        for event in script:
            yield event


async def collect(client: ScriptedClient, count: int) -> list[Change]:
    out = []
    async for change in changes(client, THINGS, cluster=WS, namespace="default"):
        out.append(change)
        if len(out) == count:
            break
    return out


def names(change: Change) -> list[str]:
    return sorted(item["metadata"]["name"] for item in change.items)


async def test_the_list_comes_first_then_each_event_with_the_state_after_it() -> None:
    client = ScriptedClient(
        [[obj("a", "5")]],
        [
            [
                {"type": "ADDED", "object": obj("b", "6")},
                {"type": "MODIFIED", "object": obj("a", "7", spec={"x": 1})},
                {"type": "DELETED", "object": obj("b", "8")},
            ]
        ],
    )
    got = await collect(client, 4)
    assert [(c.kind, names(c)) for c in got] == [
        ("LIST", ["a"]),
        ("ADDED", ["a", "b"]),
        ("MODIFIED", ["a", "b"]),
        ("DELETED", ["a"]),
    ]
    assert got[2].items[0]["spec"] == {"x": 1}
    assert all(item["kind"] == "Thing" and item["apiVersion"] == "example.io/v1" for c in got for item in c.items)


async def test_a_watch_the_server_ends_is_resumed_from_the_last_version_seen_bookmarks_included() -> None:
    client = ScriptedClient(
        [[obj("a", "5")]],
        [
            [{"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "9"}}}],
            [{"type": "ADDED", "object": obj("b", "10")}],
        ],
    )
    got = await collect(client, 2)
    assert [c.kind for c in got] == ["LIST", "ADDED"]
    assert client.watched_from == ["5", "9"]


async def test_gone_relists_and_forgets_what_was_deleted_meanwhile() -> None:
    client = ScriptedClient(
        [[obj("a", "5"), obj("b", "6")], [obj("a", "20")]],
        [GoneError(410, "Expired", "too old"), [{"type": "ADDED", "object": obj("c", "21")}]],
    )
    got = await collect(client, 3)
    assert [(c.kind, names(c)) for c in got] == [("LIST", ["a", "b"]), ("LIST", ["a"]), ("ADDED", ["a", "c"])]
    assert client.watched_from == ["6", "20"]
