"""Waiting for one object to reach a condition: a list by name, then a watch from that list's resourceVersion.

Used where a caller needs "until Ready" (a workspace, an APIBinding) without polling.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from tmc.errors import GoneError
from tmc.kcp.paths import LogicalClusterPath
from tmc.kcp.resources import Resource
from tmc.kcp.rest import JSON, KubeClient


async def wait_for_object(
    client: KubeClient,
    resource: Resource,
    name: str,
    predicate: Callable[[JSON], bool],
    *,
    cluster: LogicalClusterPath | None = None,
    namespace: str | None = None,
    timeout: float = 60.0,
) -> JSON:
    """Return the object once ``predicate`` holds; raise TimeoutError naming the last state seen."""
    last: JSON = {}
    by_name = {"fieldSelector": f"metadata.name={name}"}

    async def run() -> JSON:
        nonlocal last
        while True:
            # One list, not a get and then a list for a resourceVersion: the object and the version must come
            # from the same snapshot, or an object created between the two requests is never seen (the watch
            # starts after its ADDED event).
            listing = await client.list(resource, cluster=cluster, namespace=namespace, params=by_name)
            for item in listing.get("items") or []:
                last = {"apiVersion": resource.api_version, "kind": resource.kind, **item}
                if predicate(last):
                    return last
            version = listing["metadata"]["resourceVersion"]
            path = resource.path(cluster, namespace=namespace)
            try:
                async for event in client.watch(path, resource_version=version, params=by_name):
                    if event["type"] in ("ADDED", "MODIFIED"):
                        last = event["object"]
                        if predicate(last):
                            return last
            except GoneError:
                continue

    try:
        return await asyncio.wait_for(run(), timeout)
    except TimeoutError:
        state = last.get("status", {}) if last else "not found"
        raise TimeoutError(
            f"{resource.kind} {name} in {cluster}: condition not met within {timeout:.0f}s; last status: {state}"
        ) from None
