"""The one backoff of the runtime: per-key exponential delays with a cap and optional jitter.

Used by the work queue (one key per object: client-go's ``ItemExponentialFailureRateLimiter``, 5 ms doubling
to 300 s) and by the informer (one key per watched endpoint, 0.2 s doubling to 10 s). Jitter (a fraction of
the delay added at random) keeps many informers from reconnecting in lockstep after a server restart; the
random source is injected so tests stay deterministic.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class ExponentialBackoff(Generic[K]):
    """Per-key delays ``base * 2**failures`` capped at ``cap``, plus up to ``jitter`` of that; ``forget`` resets."""

    def __init__(
        self,
        base: float = 0.005,
        cap: float = 300.0,
        *,
        jitter: float = 0.0,
        rand: Callable[[], float] = random.random,
    ) -> None:
        if base <= 0 or cap < base:
            raise ValueError(f"backoff: need 0 < base <= cap, got base={base} cap={cap}")
        if jitter < 0:
            raise ValueError(f"backoff: jitter must be >= 0, got {jitter}")
        self.base = base
        self.cap = cap
        self.jitter = jitter
        self._rand = rand
        self._failures: dict[K, int] = {}

    def when(self, key: K) -> float:
        """The delay before retrying ``key`` now, counting one more failure."""
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        # Past 64 failures 2**failures * base is far above any cap; checking first avoids float overflow.
        delay = self.cap if failures >= 64 else float(min(self.base * 2**failures, self.cap))
        if self.jitter:
            delay += delay * self.jitter * self._rand()
        return delay

    def retries(self, key: K) -> int:
        return self._failures.get(key, 0)

    def forget(self, key: K) -> None:
        self._failures.pop(key, None)
