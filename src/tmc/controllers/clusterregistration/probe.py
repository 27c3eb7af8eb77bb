"""Probing one physical cluster: readiness, version, served resources, nodes and allocatable capacity.

Each probe has its own client and deadline, so a slow or dead cluster only delays its own registration.
Errors are turned into a ``ProbeResult`` with a reason a user can act on; the credential is never part of
any message (httpx errors name URLs, never headers).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from tmc.api.quantity import parse_bytes, parse_cpu_millis
from tmc.errors import ApiError, ForbiddenError
from tmc.kcp.kubeconfig import ClusterAccess
from tmc.kcp.resources import NODES
from tmc.kcp.rest import KubeClient

# Resources TMC looks for when it discovers what a cluster serves (group/version -> plurals of interest).
DISCOVERED_GROUP_VERSIONS = ("v1", "apps/v1", "batch/v1", "networking.k8s.io/v1", "storage.k8s.io/v1")


@dataclass(frozen=True, slots=True)
class ProbeResult:
    reachable: bool
    ready: bool
    reason: str
    message: str
    kubernetes_version: str | None = None
    api_resources: tuple[str, ...] = ()
    node_count: int | None = None
    allocatable_cpu_millis: int | None = None
    allocatable_memory_bytes: int | None = None
    unauthorized: bool = False
    extra: dict[str, str] = field(default_factory=dict)


async def probe_cluster(access: ClusterAccess, *, timeout: float) -> ProbeResult:
    try:
        return await asyncio.wait_for(_probe(access, timeout), timeout)
    except TimeoutError:
        return ProbeResult(False, False, "Timeout", f"{access.server} did not answer within {timeout:.0f}s")


async def _probe(access: ClusterAccess, timeout: float) -> ProbeResult:
    async with KubeClient(access, timeout=timeout, user_agent="tmc-cluster-probe") as client:
        try:
            status, body = await client.get_raw("/readyz")
        except ApiError as exc:
            return ProbeResult(False, False, "Unreachable", exc.message)
        if status in (401, 403):
            return ProbeResult(
                True,
                False,
                "Unauthorized",
                f"{access.server} rejected the credentials in the kubeconfig Secret (HTTP {status})",
                unauthorized=True,
            )
        if status != 200:
            return ProbeResult(True, False, "NotReady", f"{access.server}/readyz answered {status}: {body[:200]}")
        try:
            version = await client.request("GET", "/version")
            resources = await _discover(client)
        except ForbiddenError as exc:
            return ProbeResult(True, False, "Forbidden", f"the kubeconfig's user may not read discovery: {exc.message}")
        except ApiError as exc:
            return ProbeResult(True, False, "DiscoveryFailed", exc.message)
        nodes, cpu, memory = await _capacity(client)
        return ProbeResult(
            True,
            True,
            "ClusterReady",
            f"{access.server} is ready",
            kubernetes_version=str(version.get("gitVersion", "")) or None,
            api_resources=resources,
            node_count=nodes,
            allocatable_cpu_millis=cpu,
            allocatable_memory_bytes=memory,
        )


async def _discover(client: KubeClient) -> tuple[str, ...]:
    async def one(group_version: str) -> list[str]:
        path = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
        try:
            listing = await client.request("GET", path)
        except ApiError as exc:
            if exc.status_code == 404:
                return []
            raise
        group, _, version = group_version.rpartition("/")
        suffix = f".{group}/{version}" if group else f"/{version}"
        return [f"{item['name']}{suffix}" for item in listing.get("resources", []) if "/" not in item["name"]]

    found = await asyncio.gather(*(one(gv) for gv in DISCOVERED_GROUP_VERSIONS))
    return tuple(sorted(name for names in found for name in names))


async def _capacity(client: KubeClient) -> tuple[int | None, int | None, int | None]:
    try:
        nodes = await client.list(NODES)
    except ApiError:
        return None, None, None  # reading nodes is optional: a least-privilege kubeconfig may not allow it
    items = nodes.get("items", [])
    if not items:
        return 0, None, None
    cpu = sum(parse_cpu_millis(item.get("status", {}).get("allocatable", {}).get("cpu", "0")) for item in items)
    memory = sum(parse_bytes(item.get("status", {}).get("allocatable", {}).get("memory", "0")) for item in items)
    return len(items), cpu, memory
