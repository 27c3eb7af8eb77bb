"""An append-only journal of every write a controller process makes to kcp: an audit trail per identity.

kcp's APIExport virtual workspace forwards writes under its own name, so an object's ``managedFields`` cannot
tell which TMC process wrote it. With ``--write-log PATH`` each process appends one JSON line per POST, PUT,
PATCH or DELETE it sends to kcp (hooked into ``KubeClient``, so no write path can bypass it):

    {"time": <wall clock, s>, "identity": ..., "method": ..., "path": ..., "name": ..., "resourceVersion": ...}

The line is written *before* the request is sent: a write the server applied is on record even if the process
dies before the answer arrives, and its time is never later than the server's. A write the server refused is
recorded too (it might have been applied). ``path`` is the request path (``.../status`` for status writes);
``name`` and ``resourceVersion`` (the precondition, if any) come from the request body. Lines go to the OS one
``write`` each, unbuffered, so a process killed with SIGKILL loses none. This is how the hand-over test proves
that no object is written by two leaders at once; an operator can use it the same way after an incident.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tmc.kcp.rest import JSON
from tmc.runtime.clock import SYSTEM_CLOCK, Clock


class WriteJournal:
    def __init__(self, path: Path, identity: str, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.path = path
        self.identity = identity
        self._clock = clock
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def record(self, method: str, path: str, body: JSON | None) -> None:
        """A ``tmc.kcp.rest.WriteHook``."""
        metadata = (body or {}).get("metadata") or {}
        line = {
            "time": self._clock.wall(),
            "identity": self.identity,
            "method": method,
            "path": path,
            "name": metadata.get("name") or path.removesuffix("/status").rsplit("/", 1)[-1],
            "resourceVersion": metadata.get("resourceVersion", ""),
        }
        os.write(self._fd, (json.dumps(line, separators=(",", ":")) + "\n").encode())

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def read_journal(path: Path) -> list[JSON]:
    """The journal's records, oldest first (for tests and incident analysis)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
