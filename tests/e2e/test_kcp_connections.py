"""The kcp client's connections, against a real kcp: requests in flight together share one HTTP/2 connection
(a pool of HTTP/1.1 connections cost the controller most of its CPU in TLS handshakes and pool bookkeeping under
load), and a watch streams on a connection of its own."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tmc.kcp.paths import LogicalClusterPath
from tmc.kcp.resources import CONFIGMAPS
from tmc.kcp.rest import KubeClient
from tmc.local.kcp_server import KcpServer

pytestmark = pytest.mark.e2e

ESTABLISHED = "01"


def connections_to(port: int) -> int:
    """This process's established TCP connections to ``port`` (its socket inodes matched in /proc/net)."""
    inodes = set()
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed since listed
            continue
        if target.startswith("socket:["):
            inodes.add(target.removeprefix("socket:[").removesuffix("]"))
    count = 0
    for table in (Path("/proc/self/net/tcp"), Path("/proc/self/net/tcp6")):
        for line in table.read_text().splitlines()[1:]:
            fields = line.split()
            remote, state, inode = fields[2], fields[3], fields[9]
            if state == ESTABLISHED and inode in inodes and int(remote.rsplit(":", 1)[1], 16) == port:
                count += 1
    return count


def configmap(name: str) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}}


async def test_requests_in_flight_together_share_one_connection_and_a_watch_has_its_own(
    kcp: KcpServer, workspace: LogicalClusterPath
) -> None:
    port = urlsplit(kcp.url).port
    assert port is not None
    before = connections_to(port)
    async with KubeClient(kcp.access) as client:
        await asyncio.gather(
            *(client.create(CONFIGMAPS, configmap(f"c{i}"), cluster=workspace, namespace="default") for i in range(40))
        )
        assert connections_to(port) - before == 1, "40 creates in flight together: one connection, multiplexed"

        listed = await client.list(CONFIGMAPS, cluster=workspace, namespace="default")
        path = CONFIGMAPS.path(workspace, namespace="default")
        version = listed["metadata"]["resourceVersion"]

        async def connections_while_watching(name: str) -> int:
            # From the listed version on: the create below is seen whenever it is sent.
            async for event in client.watch(path, resource_version=version, timeout_seconds=60):
                if event["object"]["metadata"]["name"] == name:
                    return connections_to(port) - before
            raise AssertionError(f"the watch ended before {name} was seen")

        watching = asyncio.ensure_future(connections_while_watching("after-watch"))
        await client.create(CONFIGMAPS, configmap("after-watch"), cluster=workspace, namespace="default")
        assert await asyncio.wait_for(watching, timeout=30) == 2, "the watch streams on its own connection"
