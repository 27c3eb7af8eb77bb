"""An async Kubernetes REST client that addresses kcp logical clusters by URL path.

Why by hand on top of httpx rather than lightkube or kubernetes_asyncio: both bind one client (one connection
pool, one base URL) to one cluster, while kcp multiplexes thousands of logical clusters behind one server
under ``/clusters/<name>`` and its virtual workspaces add a wildcard ``/clusters/*``. Here one pool serves
every workspace, each call names its logical cluster, and watches stream raw events so the informer can see
bookmarks and ``410 Gone`` itself. httpx provides HTTP/TLS/pooling; this module only shapes requests and
translates errors (the one place where httpx exceptions become ``tmc.errors``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import httpx

from tmc.errors import (
    ApiError,
    BadRequestError,
    ConflictError,
    ForbiddenError,
    GoneError,
    InvalidError,
    NotFoundError,
)
from tmc.kcp.kubeconfig import ClusterAccess
from tmc.kcp.paths import LogicalClusterPath
from tmc.kcp.resources import Resource

JSON = dict[str, Any]
WriteHook = Callable[[str, str, JSON | None], None]
"""``(method, path, request body)`` of a POST/PUT/PATCH/DELETE, called just before it is sent."""
APPLY_PATCH = "application/apply-patch+yaml"
STRICT: dict[str, str | int | bool] = {"fieldValidation": "Strict"}
MERGE_PATCH = "application/merge-patch+json"
# A 429 naming a Retry-After is sent again up to this many times in all (client-go: 10), waiting at most this long.
RETRY_AFTER_ATTEMPTS = 10
RETRY_AFTER_MAX_SECONDS = 5.0
# Requests go over HTTP/2 (kcp and kube-apiservers speak it): all in flight share one connection. Over HTTP/1.1
# each request in flight held a connection of its own, and under load (55 workers) the controller spent most of
# its CPU in TLS handshakes and in httpcore's pool bookkeeping, which walks every pooled connection per request
# (py-spy, bench/sync.py). The limits matter only if a server refuses HTTP/2.
REQUEST_LIMITS = httpx.Limits(max_connections=64, max_keepalive_connections=64)
WATCH_LIMITS = httpx.Limits(max_connections=None, max_keepalive_connections=8)

_ERRORS_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequestError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    410: GoneError,
    422: InvalidError,
}


class TransportError(ApiError):
    """The server could not be reached or did not answer in time (status_code 0)."""


def _error_from_response(status_code: int, body: bytes, method: str, path: str) -> ApiError:
    try:
        status = json.loads(body)
    except ValueError:
        status = {}
    if not isinstance(status, dict):
        status = {}
    message = status.get("message") or body.decode(errors="replace")[:300] or f"{method} {path}"
    reason = status.get("reason") or httpx.codes.get_reason_phrase(status_code) or "Error"
    error_type = _ERRORS_BY_STATUS.get(status_code, ApiError)
    return error_type(status_code, reason, message, status.get("details"))


class KubeClient:
    """One connection pool to one server (kcp, a virtual workspace, or a physical cluster)."""

    def __init__(
        self,
        access: ClusterAccess,
        *,
        timeout: float = 30.0,
        user_agent: str = "tmc",
        transport: httpx.AsyncBaseTransport | None = None,
        on_write: WriteHook | None = None,
    ) -> None:
        """``transport`` replaces httpx's default one (TLS, limits and proxies are then the transport's).

        ``on_write`` is called just before every mutating request is sent (an audit trail of this client's writes:
        before, so that a write the server applied is on record even if this process dies before the answer).
        """
        self.access = access
        self._on_write = on_write
        headers = {"User-Agent": user_agent, "Accept": "application/json"}
        if access.token:
            headers["Authorization"] = f"Bearer {access.token}"
        client_timeout = httpx.Timeout(timeout, connect=min(timeout, 10.0))
        if transport is not None:
            self._http = httpx.AsyncClient(
                base_url=access.server, headers=headers, transport=transport, timeout=client_timeout
            )
            self._watch_http = self._http
            return
        verify = access.ssl_context()
        self._http = httpx.AsyncClient(
            base_url=access.server,
            headers=headers,
            verify=verify,
            timeout=client_timeout,
            limits=REQUEST_LIMITS,
            http2=True,
        )
        # Watches stream on HTTP/1.1 connections of their own: a watch lasts minutes, and a slow reader of one stream
        # must not hold back the requests multiplexed on the shared connection (HTTP/2 flow control).
        self._watch_http = httpx.AsyncClient(
            base_url=access.server, headers=headers, verify=verify, timeout=client_timeout, limits=WATCH_LIMITS
        )

    async def __aenter__(self) -> KubeClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()
        if self._watch_http is not self._http:
            await self._watch_http.aclose()

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
        content = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": content_type} if content is not None else {}
        request_timeout = httpx.USE_CLIENT_DEFAULT if timeout is None else httpx.Timeout(timeout)
        if self._on_write is not None and method != "GET":
            self._on_write(method, path, body if isinstance(body, dict) else None)
        try:
            for attempt in range(1, RETRY_AFTER_ATTEMPTS + 1):
                try:
                    response = await self._send(method, path, params, content, headers, request_timeout)
                except httpx.RemoteProtocolError:
                    # A pooled keep-alive connection the server had just closed; POST is not repeated blindly.
                    if method == "POST":
                        raise
                    response = await self._send(method, path, params, content, headers, request_timeout)
                delay = _retry_after(response)
                if delay is None or attempt == RETRY_AFTER_ATTEMPTS:
                    break
                # 429 with Retry-After: the server did not process the request (its storage is initializing after
                # a restart, or it sheds load) and says when to come back; any verb is safe to send again.
                await asyncio.sleep(delay)
        except httpx.HTTPError as exc:
            raise TransportError(
                0, "Unreachable", f"{method} {self.access.server}: {type(exc).__name__}: {exc}"
            ) from exc
        except RuntimeError:
            if not self._http.is_closed:
                raise
            # A pooled cluster client closed while a caller still held it (its registration's credentials changed,
            # or the registration went): that cluster is unreachable through this client, which callers retry.
            raise TransportError(0, "Unreachable", f"{method} {self.access.server}: the client was closed") from None
        if response.status_code >= 400:
            raise _error_from_response(response.status_code, response.content, method, path)
        try:
            result = response.json() if response.content else {}
        except ValueError:
            result = None
        if not isinstance(result, dict):
            # Not an API server's answer (a proxy's page, or a hostile cluster): the caller's error, not a crash.
            raise ApiError(response.status_code, "InvalidResponse", f"{method} {path}: the answer is not a JSON object")
        return result

    async def _send(
        self,
        method: str,
        path: str,
        params: Mapping[str, str | int | bool] | None,
        content: bytes | None,
        headers: dict[str, str],
        timeout: Any,
    ) -> httpx.Response:
        try:
            return await self._http.request(
                method,
                path.lstrip("/"),
                params=_encode_params(params),
                content=content,
                headers=headers,
                timeout=timeout,
            )
        except ValueError as exc:
            # httpcore 1.0's HTTP/2 connection, when the server goes away while a response is being read, can
            # release its stream semaphore once too often ("semaphore released too many times"): the connection
            # is dead either way, so this is what it is to the caller, a dropped connection.
            raise httpx.RemoteProtocolError(f"HTTP/2 connection lost ({exc})") from exc

    async def get_raw(self, path: str, *, timeout: float | None = None) -> tuple[int, str]:
        """For health endpoints (/readyz): status and text, without raising on non-2xx."""
        try:
            response = await self._send(
                "GET", path, None, None, {}, httpx.USE_CLIENT_DEFAULT if timeout is None else httpx.Timeout(timeout)
            )
        except httpx.HTTPError as exc:
            raise TransportError(0, "Unreachable", f"GET {path}: {type(exc).__name__}: {exc}") from exc
        return response.status_code, response.text

    # Typed-resource helpers; `cluster=None` means the client's own base URL already names the cluster.

    async def get(
        self,
        resource: Resource,
        name: str,
        *,
        cluster: LogicalClusterPath | None = None,
        namespace: str | None = None,
    ) -> JSON:
        return await self.request("GET", resource.path(cluster, namespace=namespace, name=name))

    async def list(
        self,
        resource: Resource,
        *,
        cluster: LogicalClusterPath | None = None,
        namespace: str | None = None,
        label_selector: str | None = None,
        params: Mapping[str, str | int | bool] | None = None,
    ) -> JSON:
        query: dict[str, str | int | bool] = dict(params or {})
        if label_selector:
            query["labelSelector"] = label_selector
        return await self.request("GET", resource.path(cluster, namespace=namespace), params=query)

    async def create(
        self,
        resource: Resource,
        body: JSON,
        *,
        cluster: LogicalClusterPath | None = None,
        namespace: str | None = None,
    ) -> JSON:
        # Like kubectl: unknown or duplicate fields are rejected, not silently dropped.
        return await self.request("POST", resource.path(cluster, namespace=namespace), body=body, params=STRICT)

    async def replace(
        self,
        resource: Resource,
        body: JSON,
        *,
        cluster: LogicalClusterPath | None = None,
        subresource: str | None = None,
    ) -> JSON:
        metadata = body["metadata"]
        path = resource.path(
            cluster, namespace=metadata.get("namespace"), name=metadata["name"], subresource=subresource
        )
        return await self.request("PUT", path, body=body, params=STRICT)

    async def apply(
        self,
        resource: Resource,
        body: JSON,
        *,
        field_manager: str,
        cluster: LogicalClusterPath | None = None,
        subresource: str | None = None,
        force: bool = True,
    ) -> JSON:
        """Server-side apply: the server merges our intent and keeps other managers' fields."""
        metadata = body["metadata"]
        path = resource.path(
            cluster, namespace=metadata.get("namespace"), name=metadata["name"], subresource=subresource
        )
        params: dict[str, str | int | bool] = {"fieldManager": field_manager, **STRICT}
        if force:
            params["force"] = True
        return await self.request("PATCH", path, params=params, body=body, content_type=APPLY_PATCH)

    async def merge_patch(
        self,
        resource: Resource,
        name: str,
        patch: JSON,
        *,
        cluster: LogicalClusterPath | None = None,
        namespace: str | None = None,
        subresource: str | None = None,
        field_manager: str | None = None,
    ) -> JSON:
        """``field_manager``: the name managedFields records (default: the server derives it from the user agent)."""
        path = resource.path(cluster, namespace=namespace, name=name, subresource=subresource)
        params = {"fieldManager": field_manager} if field_manager else None
        return await self.request("PATCH", path, body=patch, content_type=MERGE_PATCH, params=params)

    async def delete(
        self,
        resource: Resource,
        name: str,
        *,
        cluster: LogicalClusterPath | None = None,
        namespace: str | None = None,
    ) -> JSON:
        return await self.request("DELETE", resource.path(cluster, namespace=namespace, name=name))

    async def watch(
        self,
        path: str,
        *,
        resource_version: str,
        params: Mapping[str, str | int | bool] | None = None,
        timeout_seconds: int = 300,
    ) -> AsyncIterator[JSON]:
        """Stream watch events (dicts with ``type`` and ``object``) from ``resource_version`` on.

        An ``ERROR`` event carrying a 410 Status is raised as ``GoneError`` so callers relist.
        """
        query: dict[str, str | int | bool] = {
            **(params or {}),
            "watch": "true",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": timeout_seconds,
        }
        try:
            async with self._watch_http.stream(
                "GET",
                path.lstrip("/"),
                params=_encode_params(query),
                timeout=httpx.Timeout(timeout_seconds + 30, connect=10.0),
            ) as response:
                if response.status_code >= 400:
                    body = await response.aread()
                    raise _error_from_response(response.status_code, body, "WATCH", path)
                async for line in response.aiter_lines():
                    if not line:
                        continue
                    event: JSON = json.loads(line)
                    if event.get("type") == "ERROR":
                        status = event.get("object") or {}
                        code = int(status.get("code") or 500)
                        raise _ERRORS_BY_STATUS.get(code, ApiError)(
                            code, status.get("reason", "Error"), status.get("message", "watch error")
                        )
                    yield event
        except httpx.HTTPError as exc:
            raise TransportError(0, "Unreachable", f"WATCH {path}: {type(exc).__name__}: {exc}") from exc


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds to wait before sending the request again, for a 429 that names them (as client-go honours)."""
    if response.status_code != 429:
        return None
    try:
        seconds = float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None
    return min(max(seconds, 0.1), RETRY_AFTER_MAX_SECONDS)


def _encode_params(params: Mapping[str, str | int | bool] | None) -> dict[str, str] | None:
    if params is None:
        return None
    return {key: (str(value).lower() if isinstance(value, bool) else str(value)) for key, value in params.items()}
