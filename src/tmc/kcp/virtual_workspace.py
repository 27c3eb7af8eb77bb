"""An APIExport's virtual workspace: the endpoints TMC's controllers reach all bound tenants through.

kcp publishes the URLs in the APIExportEndpointSlice it keeps next to the export (same name): one URL per
shard that holds at least one binding to the export, each serving only that shard's workspaces. URLs come and
go as tenants bind on new shards or the last binding on a shard goes (see SHARDED-KCP.md).

``VirtualWorkspaceClient`` is all of those URLs behind one ``KubeClient``:

- ``set_urls`` takes the slice's current URLs (the controller process watches the slice and calls it on every
  change); each URL gets its own connection pool, opened and closed as URLs come and go;
- informers watch every URL (``endpoint_clients``, ``subscribe``) and report which URL served which logical
  cluster (``learn``);
- a request addressed to a logical cluster (``/clusters/<name>/...``: every read and write of a reconcile) goes
  to the URL that serves that cluster; with a single URL everything goes there. A cluster no URL is known to
  serve yet is a transient error (503), never a guess: a write must reach the shard that holds the workspace.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any

import httpx

from tmc.errors import ApiError
from tmc.kcp.kubeconfig import ClusterAccess
from tmc.kcp.paths import WILDCARD, LogicalClusterPath
from tmc.kcp.resources import API_EXPORT_ENDPOINT_SLICES
from tmc.kcp.rest import JSON, KubeClient, WriteHook
from tmc.kcp.watching import wait_for_object

log = logging.getLogger(__name__)


def endpoint_urls(endpoint_slice: JSON) -> list[str]:
    return [
        str(endpoint["url"])
        for endpoint in endpoint_slice.get("status", {}).get("endpoints", [])
        if endpoint.get("url")
    ]


async def export_virtual_workspace_url(
    client: KubeClient, workspace: LogicalClusterPath, export_name: str, *, timeout: float = 120.0
) -> str:
    """The first endpoint URL of the export's slice, waiting (by watch) until kcp publishes one.

    For tools and tests that need one URL on a single-shard kcp; controllers use ``VirtualWorkspaceClient``.
    """
    endpoint_slice = await wait_for_object(
        client,
        API_EXPORT_ENDPOINT_SLICES,
        export_name,
        lambda obj: bool(endpoint_urls(obj)),
        cluster=workspace,
        timeout=timeout,
    )
    return endpoint_urls(endpoint_slice)[0]


class UnroutableError(ApiError):
    """No virtual workspace URL is known to serve the logical cluster (yet): retry later."""


class VirtualWorkspaceClient(KubeClient):
    """Every URL of one APIExport's virtual workspace, routed by logical cluster.

    A ``KubeClient`` so that code written against one client works unchanged; it has no connection pool of
    its own (each URL's client has one), so ``super().__init__`` is deliberately not called.
    """

    def __init__(
        self,
        access: ClusterAccess,
        *,
        timeout: float = 30.0,
        user_agent: str = "tmc",
        transport: httpx.AsyncBaseTransport | None = None,
        on_write: WriteHook | None = None,
    ) -> None:
        """``access``: credentials (and CA) for every URL, whose ``server`` is replaced per URL."""
        self.access = access
        self._timeout = timeout
        self._user_agent = user_agent
        self._transport = transport
        self._on_write = on_write
        self._clients: dict[str, KubeClient] = {}
        self._listeners: list[Callable[[], None]] = []
        self._cluster_urls: dict[str, str] = {}
        self._closing: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> VirtualWorkspaceClient:
        return self

    # -- the endpoint set (tmc.runtime.informer.EndpointSet) --------------------------------------------

    def endpoint_clients(self) -> Mapping[str, KubeClient]:
        return dict(self._clients)

    def subscribe(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def learn(self, cluster: str, endpoint: str) -> None:
        if endpoint in self._clients:
            self._cluster_urls[cluster] = endpoint

    @property
    def urls(self) -> list[str]:
        return sorted(self._clients)

    def set_urls(self, urls: Iterable[str]) -> None:
        """Make the set of URLs equal ``urls``; listeners (informers) hear about it synchronously."""
        wanted = list(dict.fromkeys(urls))
        removed = [url for url in self._clients if url not in wanted]
        added = [url for url in wanted if url not in self._clients]
        if not removed and not added:
            return
        for url in added:
            self._clients[url] = KubeClient(
                self.access.with_server(url),
                timeout=self._timeout,
                user_agent=self._user_agent,
                transport=self._transport,
                on_write=self._on_write,
            )
        gone = [self._clients.pop(url) for url in removed]
        self._cluster_urls = {cluster: url for cluster, url in self._cluster_urls.items() if url in self._clients}
        log.info("virtual workspace URLs now: %s (added %s, removed %s)", self.urls, added, removed)
        for listener in list(self._listeners):
            listener()
        for client in gone:
            # After the listeners cancelled their watches on it; closed off this (synchronous) call.
            task = asyncio.get_running_loop().create_task(client.close())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    # -- routing --------------------------------------------------------------------------------------

    def client_for(self, path: str) -> KubeClient:
        """The client of the URL serving the logical cluster ``path`` addresses."""
        parts = path.lstrip("/").split("/", 2)
        cluster = parts[1] if len(parts) >= 2 and parts[0] == "clusters" else None
        if not self._clients:
            raise UnroutableError(503, "ServiceUnavailable", "the export has no virtual workspace URL yet")
        url = self._cluster_urls.get(cluster) if cluster and cluster != WILDCARD else None
        if url is not None:
            return self._clients[url]
        if len(self._clients) == 1:
            return next(iter(self._clients.values()))
        what = "a wildcard request" if cluster == WILDCARD else f"logical cluster {cluster}"
        raise UnroutableError(
            503,
            "ServiceUnavailable",
            f"{what}: none of the {len(self._clients)} virtual workspace URLs is known to serve it (yet)",
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int | bool] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        timeout: float | None = None,
    ) -> JSON:
        return await self.client_for(path).request(
            method, path, params=params, body=body, content_type=content_type, timeout=timeout
        )

    async def get_raw(self, path: str, *, timeout: float | None = None) -> tuple[int, str]:
        return await self.client_for(path).get_raw(path, timeout=timeout)

    async def watch(
        self,
        path: str,
        *,
        resource_version: str,
        params: Mapping[str, str | int | bool] | None = None,
        timeout_seconds: int = 300,
    ) -> AsyncIterator[JSON]:
        events = self.client_for(path).watch(
            path, resource_version=resource_version, params=params, timeout_seconds=timeout_seconds
        )
        try:
            async for event in events:
                yield event
        finally:
            aclose = getattr(events, "aclose", None)
            if aclose is not None:
                await aclose()

    async def close(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.close()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
