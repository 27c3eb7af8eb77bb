"""The cluster transport: the address guard is in the connection path, answers are bounded, keys stay off disk."""

from __future__ import annotations

import asyncio
import datetime
import os
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tmc.clusters import AddressNotAllowed, AddressPolicy, cluster_client
from tmc.kcp.kubeconfig import ClusterAccess
from tmc.kcp.rest import TransportError

from ._fakes import listening


class HttpServer:
    """A loopback HTTP/1.1 server answering every request with ``body``; counts connections."""

    def __init__(self, body: bytes = b"ok") -> None:
        self.body = body
        self.connections = 0
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                if not head:
                    return
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                    + f"Content-Length: {len(self.body)}\r\n\r\n".encode()
                    + self.body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()


@pytest.fixture
async def server() -> AsyncIterator[HttpServer]:
    async with listening(HttpServer()) as handler:
        yield handler


async def test_a_refused_address_is_never_connected_to(server: HttpServer) -> None:
    access = ClusterAccess(f"http://127.0.0.1:{server.port}")
    async with cluster_client(access, AddressPolicy()) as client:
        with pytest.raises(AddressNotAllowed):
            await client.get_raw("/readyz")
    assert server.connections == 0


async def test_an_allowed_address_is_connected_to_and_the_connection_reused(server: HttpServer) -> None:
    access = ClusterAccess(f"http://localhost:{server.port}")
    async with cluster_client(access, AddressPolicy.parse(["127.0.0.0/8", "::1/128"])) as client:
        for _ in range(3):
            assert await client.get_raw("/readyz") == (200, "ok")
    assert server.connections == 1


async def test_an_oversized_answer_fails_the_request(server: HttpServer) -> None:
    server.body = b"x" * 4096
    access = ClusterAccess(f"http://127.0.0.1:{server.port}")
    async with cluster_client(access, AddressPolicy.parse(["127.0.0.0/8"]), max_response_bytes=1024) as client:
        with pytest.raises(TransportError, match="larger than"):
            await client.request("GET", "/version")


def _self_signed() -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tenant")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return (
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )


def test_a_client_key_is_loaded_without_a_file_left_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cert, key = _self_signed()
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    before = set(os.listdir(f"/proc/{os.getpid()}/fd"))
    context = ClusterAccess("https://c", client_cert_data=cert, client_key_data=key).ssl_context()
    assert isinstance(context, ssl.SSLContext)
    assert list(tmp_path.iterdir()) == []  # nothing was written to a temporary directory
    assert set(os.listdir(f"/proc/{os.getpid()}/fd")) == before  # and the in-memory files are closed


def test_a_mismatched_client_key_is_an_ssl_error() -> None:
    cert, _ = _self_signed()
    _, other_key = _self_signed()
    with pytest.raises(ssl.SSLError):
        ClusterAccess("https://c", client_cert_data=cert, client_key_data=other_key).ssl_context()
