"""The HTTP transport of every connection TMC opens to a tenant's physical cluster.

On top of httpx's own transport it adds what a tenant-controlled address needs:

- **address policy at connect time**: a network backend resolves the host itself, refuses the connection
  unless every resolved address passes ``AddressPolicy``, and connects to the address it checked (TLS still
  verifies the URL's host name). A refusal raises ``AddressNotAllowed`` through the client unchanged.
- **bounded answers**: a response body larger than ``max_response_bytes`` fails the request, so a hostile
  cluster cannot make the controller (shared by all tenants) buffer gigabytes. Watches are exempt (they
  stream; their consumer bounds them per event).
- **no environment proxies, no unix sockets**: the connection goes straight to the checked address.
- keep-alive connections, reused for the endpoint's lifetime; HTTP/2 on request (off by default, see
  ``ProbeSettings.http2`` for why).

httpx has no option for a custom network backend, so ``_GuardedTransport`` replaces the connection pool its
base class built with one configured the same way plus the backend; ``test_transport`` proves the guard is
in the path, so an httpx upgrade that changes this fails loudly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

import httpcore
import httpx

from tmc.clusters.policy import AddressPolicy
from tmc.kcp.kubeconfig import ClusterAccess
from tmc.kcp.rest import KubeClient

DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024


class ResponseTooLarge(httpx.ReadError):
    """A non-watch response body passed the size bound."""


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, policy: AddressPolicy, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._policy = policy
        self._inner = inner if inner is not None else httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await self._policy.resolve(host.strip("[]"), port)
        except OSError as exc:
            raise httpcore.ConnectError(str(exc)) from None
        error: Exception = httpcore.ConnectError(f"{host} resolved to no address")
        for address in addresses:
            try:
                return await self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        raise error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not used for physical clusters")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _CappedStream(httpx.AsyncByteStream):
    def __init__(self, stream: httpx.AsyncByteStream, limit: int) -> None:
        self._stream = stream
        self._limit = limit

    async def __aiter__(self) -> AsyncIterator[bytes]:
        seen = 0
        async for chunk in self._stream:
            seen += len(chunk)
            if seen > self._limit:
                raise ResponseTooLarge(f"the cluster's answer is larger than {self._limit // (1024 * 1024)} MiB")
            yield chunk

    async def aclose(self) -> None:
        await self._stream.aclose()


class _GuardedTransport(httpx.AsyncHTTPTransport):
    def __init__(
        self,
        access: ClusterAccess,
        policy: AddressPolicy,
        *,
        http2: bool,
        max_connections: int,
        max_response_bytes: int,
        backend: httpcore.AsyncNetworkBackend | None,
    ) -> None:
        ssl_context = access.ssl_context()
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        super().__init__(verify=ssl_context, http2=http2, limits=limits, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=http2,
            network_backend=_GuardedBackend(policy, backend),
        )
        self._max_response_bytes = max_response_bytes

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        if request.url.params.get("watch") == "true":
            return response
        assert isinstance(response.stream, httpx.AsyncByteStream)
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_CappedStream(response.stream, self._max_response_bytes),
            extensions=response.extensions,
        )


def cluster_client(
    access: ClusterAccess,
    policy: AddressPolicy,
    *,
    timeout: float = 30.0,
    http2: bool = False,
    max_connections: int = 16,
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    user_agent: str = "tmc",
    backend: httpcore.AsyncNetworkBackend | None = None,
) -> KubeClient:
    """A long-lived ``KubeClient`` for one physical cluster and credential, behind the guards above.

    ``backend`` replaces the TCP layer under the guard (tests); production uses anyio's.
    """
    transport = _GuardedTransport(
        access,
        policy,
        http2=http2,
        max_connections=max_connections,
        max_response_bytes=max_response_bytes,
        backend=backend,
    )
    return KubeClient(access, timeout=timeout, user_agent=user_agent, transport=transport)
