"""The two kinds of request TMC sends a physical cluster for health: a liveness check and a facts refresh.

- ``check_liveness``: one ``GET /readyz``, every heartbeat. Cheap for the cluster and for TMC.
- ``read_facts``: ``/version``, discovery of the groups TMC cares about, and the nodes' allocatable capacity
  (paginated). Sent on a slower timer and whenever the cluster comes back, because these change rarely.

Nothing the cluster answers reaches tenant-visible status unchecked: a version must look like one, resource
names must look like resource names (and are capped in number), and any text is cut to a short, printable
message. The credential is never part of a message (httpx errors name URLs, never headers).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from dataclasses import dataclass

import httpx

from tmc.api.quantity import parse_bytes, parse_cpu_millis
from tmc.clusters.errors import ADDRESS_NOT_ALLOWED, AddressNotAllowed
from tmc.errors import ApiError, ForbiddenError
from tmc.kcp.resources import NODES
from tmc.kcp.rest import KubeClient, TransportError

# Resources TMC looks for when it discovers what a cluster serves.
DISCOVERED_GROUP_VERSIONS = ("v1", "apps/v1", "batch/v1", "networking.k8s.io/v1", "storage.k8s.io/v1")
MAX_MESSAGE = 160
MAX_RESOURCES_PER_GROUP = 128
MAX_NODE_PAGES = 40
CAPACITY_DEADLINE_FACTOR = 4
_VERSION = re.compile(r"^v?[0-9]+\.[0-9]+(\.[0-9]+)?([-+.][0-9A-Za-z.+-]*)?$")
_RESOURCE = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")

LIVE = "Live"


@dataclass(frozen=True, slots=True)
class Liveness:
    """One heartbeat's outcome. ``reason`` is ``Live`` or why not (``Timeout``, ``Unreachable``, ...)."""

    ok: bool
    reason: str
    message: str

    @property
    def unauthorized(self) -> bool:
        return self.reason == "Unauthorized"

    @property
    def address_refused(self) -> bool:
        return self.reason == ADDRESS_NOT_ALLOWED


@dataclass(frozen=True, slots=True)
class Facts:
    kubernetes_version: str | None = None
    api_resources: tuple[str, ...] = ()
    node_count: int | None = None
    allocatable_cpu_millis: int | None = None
    allocatable_memory_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class FactsProblem:
    """The cluster is live but TMC cannot read what it needs (e.g. discovery is forbidden)."""

    reason: str
    message: str


def bounded(text: str, limit: int = MAX_MESSAGE) -> str:
    """``text`` as one short printable line: what a cluster says is shown, never copied wholesale."""
    flat = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


async def check_liveness(client: KubeClient, *, timeout: float) -> Liveness:
    server = client.access.server
    try:
        async with asyncio.timeout(timeout):
            status, body = await client.get_raw("/readyz", timeout=timeout)
    except TimeoutError:
        return Liveness(False, "Timeout", f"{server} did not answer within {timeout:g}s")
    except AddressNotAllowed as exc:
        return Liveness(False, exc.reason, exc.message)
    except TransportError as exc:
        if isinstance(exc.__cause__, httpx.TimeoutException):
            return Liveness(False, "Timeout", f"{server} did not answer within {timeout:g}s")
        return Liveness(False, "Unreachable", bounded(exc.message))
    if status in (401, 403):
        return Liveness(
            False, "Unauthorized", f"{server} rejected the credentials in the kubeconfig Secret (HTTP {status})"
        )
    if status != 200:
        return Liveness(False, "NotReady", f"{server}/readyz answered {status}: {bounded(body, 80)}")
    return Liveness(True, LIVE, f"{server} is ready")


async def read_facts(client: KubeClient, *, timeout: float) -> Facts | FactsProblem:
    try:
        async with asyncio.timeout(timeout):
            version = await client.request("GET", "/version")
            resources = await _discover(client)
        # Capacity is optional and a big cluster's node list takes longer: its own, longer deadline, and
        # running out of it means "capacity unknown", not "cluster broken".
        nodes, cpu, memory = None, None, None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout * CAPACITY_DEADLINE_FACTOR):
                nodes, cpu, memory = await _capacity(client)
    except TimeoutError:
        return FactsProblem("DiscoveryFailed", f"discovery did not finish within {timeout:g}s")
    except AddressNotAllowed as exc:
        return FactsProblem(exc.reason, exc.message)
    except ForbiddenError as exc:
        return FactsProblem("Forbidden", f"the kubeconfig's user may not read discovery: {bounded(exc.message)}")
    except ApiError as exc:
        return FactsProblem("DiscoveryFailed", bounded(exc.message))
    git_version = str(version.get("gitVersion", ""))
    return Facts(
        kubernetes_version=git_version if len(git_version) <= 64 and _VERSION.match(git_version) else None,
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
        names = [
            str(item.get("name", ""))
            for item in listing.get("resources") or []
            if isinstance(item, dict) and isinstance(item.get("name"), str)
        ]
        found = sorted({name for name in names if len(name) <= 63 and _RESOURCE.match(name)})
        return [f"{name}{suffix}" for name in found[:MAX_RESOURCES_PER_GROUP]]

    found = await asyncio.gather(*(one(gv) for gv in DISCOVERED_GROUP_VERSIONS))
    return tuple(sorted(name for names in found for name in names))


async def _capacity(client: KubeClient) -> tuple[int | None, int | None, int | None]:
    count, cpu, memory = 0, 0, 0
    params: dict[str, str | int | bool] = {"limit": 500}
    try:
        for _ in range(MAX_NODE_PAGES):
            page = await client.list(NODES, params=params)
            for item in page.get("items") or []:
                allocatable = (item.get("status") or {}).get("allocatable") or {}
                count += 1
                cpu += parse_cpu_millis(str(allocatable.get("cpu", "0")))
                memory += parse_bytes(str(allocatable.get("memory", "0")))
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                break
            params["continue"] = token
        else:
            return None, None, None  # more nodes than TMC reads: report no capacity rather than a partial sum
    except (ApiError, ValueError, TypeError, AttributeError):
        return None, None, None  # reading nodes is optional: a least-privilege kubeconfig may not allow it
    if count == 0:
        return 0, None, None
    return count, cpu, memory
