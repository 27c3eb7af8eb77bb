"""Child server processes (kcp, etcd, kube-apiserver) with their output kept for diagnosis.

Each process runs in its own process group so that stopping it also stops anything it spawned, and its
output goes to a log file whose last lines are quoted when the server fails to come up.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Sequence
from pathlib import Path

from tmc.errors import LocalServerError

_LOG_TAIL_LINES = 30


def tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no output)"
    return "\n".join(text.splitlines()[-lines:])


class ManagedProcess:
    """One server process; ``stop`` is idempotent and always reaps the child."""

    def __init__(self, name: str, argv: Sequence[str], log_path: Path, env: dict[str, str] | None = None):
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self._env = env
        self._process: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def start(self) -> None:
        if self.running:
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._process = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                env={**os.environ, **(self._env or {})},
                start_new_session=True,
            )

    def failure(self, message: str) -> LocalServerError:
        return LocalServerError(f"{self.name}: {message}\n--- last lines of {self.log_path} ---\n{tail(self.log_path)}")

    def check_alive(self) -> None:
        if self._process is not None and self._process.returncode is not None:
            raise self.failure(f"exited with code {self._process.returncode}")

    async def stop(self, timeout: float = 15.0) -> None:
        process = self._process
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
