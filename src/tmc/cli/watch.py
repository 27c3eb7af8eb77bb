"""``tmc get --watch``: one list, then a watch from its resourceVersion; every change yields the new state.

The same protocol as ``tmc.kcp.watching`` and the informers, cut down for a terminal: no resync, no handlers,
one resource in one workspace. A watch the server ends (its timeout) is resumed from the last
resourceVersion seen (bookmarks included); ``410 Gone`` relists. Nothing here polls.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from tmc.errors import GoneError
from tmc.kcp.paths import LogicalClusterPath
from tmc.kcp.resources import Resource
from tmc.kcp.rest import JSON


class ListWatchClient(Protocol):
    """The part of ``tmc.kcp.rest.KubeClient`` a watch needs (a fake in unit tests)."""

    async def list(
        self,
        resource: Resource,
        *,
        cluster: LogicalClusterPath | None = None,
        namespace: str | None = None,
        label_selector: str | None = None,
        params: dict[str, str | int | bool] | None = None,
    ) -> JSON: ...

    def watch(
        self,
        path: str,
        *,
        resource_version: str,
        params: dict[str, str | int | bool] | None = None,
        timeout_seconds: int = 300,
    ) -> AsyncIterator[JSON]: ...


@dataclass(frozen=True, slots=True)
class Change:
    """``kind``: ``LIST`` for a (re)list, else the watch event type; ``obj``: the changed object (not for LIST)."""

    kind: str
    obj: JSON | None
    items: list[JSON]


def _key(obj: JSON) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return (str(meta.get("namespace", "")), str(meta.get("name", "")))


async def changes(
    client: ListWatchClient,
    resource: Resource,
    *,
    cluster: LogicalClusterPath,
    namespace: str | None = None,
) -> AsyncGenerator[Change, None]:
    """Yields the listed state first, then one ``Change`` per ADDED/MODIFIED/DELETED event, forever."""
    current: dict[tuple[str, str], JSON] = {}
    path = resource.path(cluster, namespace=namespace)
    while True:
        listing = await client.list(resource, cluster=cluster, namespace=namespace)
        current = {_key(item): _typed(resource, item) for item in listing.get("items") or []}
        version = str(listing["metadata"]["resourceVersion"])
        yield Change("LIST", None, list(current.values()))
        try:
            while True:  # the server ends each watch after its timeout: resume where it stopped
                async for event in client.watch(path, resource_version=version):
                    obj = event.get("object") or {}
                    version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
                    kind = str(event.get("type"))
                    if kind == "BOOKMARK":
                        continue
                    if kind == "DELETED":
                        current.pop(_key(obj), None)
                    elif kind in ("ADDED", "MODIFIED"):
                        current[_key(obj)] = _typed(resource, obj)
                    else:
                        continue
                    yield Change(kind, _typed(resource, obj), list(current.values()))
        except GoneError:
            continue  # the resourceVersion is too old: relist


def _typed(resource: Resource, obj: JSON) -> JSON:
    """Objects in a list carry no apiVersion/kind; ``-o yaml`` shows them like kubectl does."""
    return {"apiVersion": resource.api_version, "kind": resource.kind, **obj}
