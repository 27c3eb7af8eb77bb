from __future__ import annotations

import os
from pathlib import Path

import pytest

from tmc.errors import LocalServerError
from tmc.local.process import ManagedProcess
from tmc.local.readiness import wait_until


async def never_ready() -> bool:
    return False


async def test_a_server_that_exits_is_reported_with_its_last_log_lines(tmp_path: Path) -> None:
    process = ManagedProcess(
        "fake-server", ["sh", "-c", "echo listening failed: port in use; exit 3"], tmp_path / "log"
    )
    await process.start()
    with pytest.raises(LocalServerError) as caught:
        await wait_until(process, never_ready, what="/readyz", timeout=30)
    assert "exited with code 3" in str(caught.value)
    assert "listening failed: port in use" in str(caught.value)


async def test_a_server_that_never_gets_ready_times_out_and_stop_reaps_it(tmp_path: Path) -> None:
    process = ManagedProcess("slow-server", ["sh", "-c", "echo starting; sleep 60"], tmp_path / "log")
    await process.start()
    with pytest.raises(LocalServerError, match="not reached within"):
        await wait_until(process, never_ready, what="/readyz", timeout=0.5, interval=0.1)
    pid = process.pid
    assert pid is not None
    await process.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    await process.stop()  # idempotent
