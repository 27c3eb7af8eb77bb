"""The reconciler contract: given a key, make the world match the object's current state.

A reconciler is level-triggered: it receives only an ``ObjectKey`` and reads what it needs from informer
caches or the server, never the event that caused it. Its outcome is one of

- return ``Result()``                        done; the key's backoff is forgotten;
- return ``Result(requeue_after=seconds)``   done for now, look again later (backoff forgotten);
- raise ``tmc.errors.TerminalError``         a retry cannot help: logged and counted, not retried;
- raise any other ``Exception``              transient: retried with per-key exponential backoff.

A reconcile therefore never both asks for a requeue and fails. The runtime (``controller.py``) owns
queues, retries, metrics and logging context; a reconciler only decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from tmc.runtime.keys import ObjectKey


@dataclass(frozen=True, slots=True)
class Result:
    requeue_after: float | None = None

    def __post_init__(self) -> None:
        if self.requeue_after is not None and self.requeue_after < 0:
            raise ValueError(f"requeue_after must be >= 0, got {self.requeue_after}")


class Reconciler(Protocol):
    async def reconcile(self, key: ObjectKey) -> Result: ...
