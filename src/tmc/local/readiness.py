"""Waiting for a freshly started server to answer, watching its process at the same time.

A server has no watch for its own readiness, so ``wait_until`` is the one place that retries a request on an
interval: it stops at the first success, at the deadline, or as soon as the process exits. Once a server
answers, what it serves is awaited by watch (``wait_for_nodes_ready``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence

from tmc.errors import ApiError, GoneError
from tmc.kcp.resources import NODES
from tmc.kcp.rest import JSON, KubeClient
from tmc.local.process import ManagedProcess


async def wait_until(
    process: ManagedProcess,
    probe: Callable[[], Awaitable[bool]],
    *,
    what: str,
    timeout: float,
    interval: float = 0.25,
) -> None:
    deadline = time.monotonic() + timeout
    last_error = "no answer yet"
    while True:
        process.check_alive()
        try:
            if await probe():
                return
            last_error = "not ready"
        except ApiError as exc:
            last_error = exc.message
        if time.monotonic() >= deadline:
            raise process.failure(f"{what} not reached within {timeout:.0f}s ({last_error})")
        await asyncio.sleep(interval)


async def http_ok(client: KubeClient, path: str) -> bool:
    status, _ = await client.get_raw(path)
    return status == 200


def node_ready(node: JSON) -> bool:
    conditions = node.get("status", {}).get("conditions", [])
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


async def wait_for_nodes_ready(
    client: KubeClient, processes: Sequence[ManagedProcess], *, count: int, what: str, timeout: float
) -> None:
    """Until ``count`` Nodes are Ready: a list, then a watch from its resourceVersion (relisting on 410)."""
    ready: dict[str, bool] = {}

    async def run() -> None:
        while True:
            listing = await client.list(NODES)
            ready.clear()
            ready.update({item["metadata"]["name"]: node_ready(item) for item in listing.get("items", [])})
            if sum(ready.values()) >= count:
                return
            try:
                async for event in client.watch(
                    NODES.path(None), resource_version=listing["metadata"]["resourceVersion"]
                ):
                    for process in processes:
                        process.check_alive()
                    node = event["object"]
                    name = node.get("metadata", {}).get("name")
                    if event["type"] in ("ADDED", "MODIFIED") and name:
                        ready[name] = node_ready(node)
                    elif event["type"] == "DELETED" and name:
                        ready.pop(name, None)
                    if sum(ready.values()) >= count:
                        return
            except GoneError:
                continue

    try:
        await asyncio.wait_for(run(), timeout)
    except TimeoutError:
        for process in processes:
            process.check_alive()
        failing = processes[-1] if processes else None
        message = f"{what}: {sum(ready.values())} of {count} nodes Ready after {timeout:.0f}s"
        raise (failing.failure(message) if failing else TimeoutError(message)) from None
