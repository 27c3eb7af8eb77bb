"""A request through a client that was closed is a TransportError (retried as Unreachable), not a RuntimeError."""

from __future__ import annotations

import pytest

from tmc.kcp.kubeconfig import ClusterAccess
from tmc.kcp.resources import NAMESPACES
from tmc.kcp.rest import KubeClient, TransportError


async def test_a_closed_client_is_unreachable() -> None:
    client = KubeClient(ClusterAccess(server="https://127.0.0.1:9"), timeout=1)
    await client.close()
    with pytest.raises(TransportError) as refused:
        await client.list(NAMESPACES)
    assert refused.value.reason == "Unreachable"
    assert "closed" in refused.value.message
