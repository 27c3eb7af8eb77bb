"""WriteJournal: one line per write sent, hooked into KubeClient so that no write bypasses it."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tmc.errors import NotFoundError
from tmc.kcp.kubeconfig import ClusterAccess
from tmc.kcp.paths import LogicalClusterPath
from tmc.kcp.resources import CONFIGMAPS
from tmc.kcp.rest import KubeClient
from tmc.runtime.journal import WriteJournal, read_journal

from .fakes import ManualClock


def answer(request: httpx.Request) -> httpx.Response:
    if request.method == "DELETE":
        return httpx.Response(404, json={"kind": "Status", "reason": "NotFound", "message": "gone"})
    return httpx.Response(200, json={"metadata": {"name": "cm", "resourceVersion": "42"}})


async def test_every_write_is_journaled_before_it_is_sent_and_reads_are_not(tmp_path: Path) -> None:
    clock = ManualClock()
    journal = WriteJournal(tmp_path / "writes.jsonl", "host_1234", clock=clock)
    access = ClusterAccess(server="https://kcp.example", token="t")
    async with KubeClient(access, transport=httpx.MockTransport(answer), on_write=journal.record) as client:
        ws = LogicalClusterPath("ws-a")
        await client.get(CONFIGMAPS, "cm", cluster=ws, namespace="default")
        clock.advance(1.5)
        patch = {"metadata": {"resourceVersion": "41"}, "status": {}}
        await client.merge_patch(CONFIGMAPS, "cm", patch, cluster=ws, namespace="default", subresource="status")
        clock.advance(1.0)
        with pytest.raises(NotFoundError):  # refused, but a write that was sent is on record all the same
            await client.delete(CONFIGMAPS, "cm", cluster=ws, namespace="default")
    journal.close()
    records = read_journal(tmp_path / "writes.jsonl")
    assert records == [
        {
            "time": ManualClock.EPOCH + 1.5,
            "identity": "host_1234",
            "method": "PATCH",
            "path": "/clusters/ws-a/api/v1/namespaces/default/configmaps/cm/status",
            "name": "cm",
            "resourceVersion": "41",
        },
        {
            "time": ManualClock.EPOCH + 2.5,
            "identity": "host_1234",
            "method": "DELETE",
            "path": "/clusters/ws-a/api/v1/namespaces/default/configmaps/cm",
            "name": "cm",
            "resourceVersion": "",
        },
    ]


def test_a_missing_journal_reads_as_empty(tmp_path: Path) -> None:
    assert read_journal(tmp_path / "none.jsonl") == []
