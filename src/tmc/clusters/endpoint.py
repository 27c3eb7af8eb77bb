"""One physical cluster as reached with one credential: a pooled client and the one probe loop for it.

Every registration whose kubeconfig resolves to the same (server, credential fingerprint) shares an
``Endpoint``: one long-lived ``KubeClient`` (keep-alive connections reused) and one heartbeat.
The loop, per heartbeat (jittered, so endpoints drift apart instead of firing in lockstep):

1. take a slot of the directory-wide probe semaphore (bounded apart from the reconcile workers, which never
   wait on a cluster), then send one liveness request (``/readyz``) with the probe deadline;
2. a timeout while the event loop itself was late (``LoopLag``) is inconclusive: state unchanged, retry
   after a short delay;
3. refresh the facts (version, discovery, capacity) when they are due (``facts_period``), were never read,
   failed last time, or the cluster just came back;
4. publish the new ``EndpointState``; subscribers are told only when something they show changed (a
   successful heartbeat that changes nothing tells nobody).

Times in the state are this process's own observations (monotonic for durations, wall clock for what is
written to status), as client-go judges leases by locally observed time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace

from tmc.clusters.lag import LoopLag
from tmc.clusters.probe import Facts, FactsProblem, Liveness, check_liveness, read_facts
from tmc.kcp.rest import KubeClient
from tmc.runtime.keys import ObjectKey

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ProbeSettings:
    """How clusters are probed; shared by every endpoint of a directory."""

    heartbeat_period: float = 10.0  # one liveness request per endpoint per period
    probe_timeout: float = 5.0
    facts_period: float = 300.0  # version, discovery and capacity at most this stale while the cluster is up
    probe_concurrency: int = 32  # probes in flight across all clusters
    cluster_concurrency: int = 8  # sessions (sync work) in flight per cluster
    # Watches kept open through an endpoint's client (the sync engine's copy watches, one per watched kind): under
    # HTTP/1.1 each holds a connection for its lifetime, so the pool has room for them beside the sessions.
    watch_connections: int = 8
    jitter: float = 0.1  # periods are stretched by up to this fraction, at random
    # HTTP/1.1 keep-alive by default: kube-apiserver closes an HTTP/2 connection right after answering a
    # request whose authentication failed (UnauthenticatedHTTP2DOSMitigation, on by default), and httpcore
    # then reports the termination instead of the 401 it carried, so a wrong token would read "Unreachable"
    # instead of "Unauthorized". Needs the ``h2`` package when turned on.
    http2: bool = False

    def __post_init__(self) -> None:
        for name in ("heartbeat_period", "probe_timeout", "facts_period"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0")
        if self.probe_concurrency < 1 or self.cluster_concurrency < 1:
            raise ValueError("probe_concurrency and cluster_concurrency must be >= 1")
        if self.watch_connections < 0:
            raise ValueError("watch_connections must be >= 0")

    @property
    def connections_per_client(self) -> int:
        """The work client's pool: every session and every watch at once, so none waits behind another."""
        return self.cluster_concurrency + self.watch_connections


@dataclass(frozen=True, slots=True)
class EndpointKey:
    server: str
    fingerprint: str

    def __str__(self) -> str:
        return f"{self.server}#{self.fingerprint[:8]}"


@dataclass(frozen=True, slots=True)
class EndpointState:
    """What the latest conclusive probe found. ``facts`` are the last ones read successfully."""

    liveness: Liveness
    facts: Facts | None = None
    facts_problem: FactsProblem | None = None
    last_success: float | None = None  # monotonic (loop.time) of the last live heartbeat
    last_success_wall: float | None = None  # the same moment, wall clock, for status

    @property
    def usable(self) -> bool:
        return self.liveness.ok and self.facts_problem is None and self.facts is not None

    @property
    def reason(self) -> str:
        if not self.liveness.ok:
            return self.liveness.reason
        return self.facts_problem.reason if self.facts_problem else "ClusterReady"

    @property
    def message(self) -> str:
        if not self.liveness.ok:
            return self.liveness.message
        return self.facts_problem.message if self.facts_problem else self.liveness.message

    def shown(self) -> tuple[object, ...]:
        """The parts a subscriber shows; a change here is worth telling them."""
        return (self.liveness, self.facts, self.facts_problem)


def jittered(period: float, factor: float, rng: random.Random) -> float:
    """``period`` stretched by up to ``factor`` (as client-go's ``wait.Jitter``), so timers drift apart."""
    return period * (1.0 + factor * rng.random())


@dataclass
class Endpoint:
    key: EndpointKey
    client: KubeClient  # for the work (sessions, watches)
    settings: ProbeSettings
    probe_slots: asyncio.Semaphore
    lag: LoopLag
    on_change: Callable[[Endpoint], None]
    on_probed: Callable[[str, float], None] | None = None  # (result, seconds) of each liveness request
    # The heartbeat's own connection: a probe never queues behind our own work for a pooled connection, so a
    # busy controller is not mistaken for a dead cluster. None: the work client (tests with a scripted cluster).
    probe_client: KubeClient | None = None
    rng: random.Random = field(default_factory=random.Random)
    wall: Callable[[], float] = time.time
    monotonic: Callable[[], float] | None = None  # default: the event loop's clock
    state: EndpointState | None = None
    users: set[ObjectKey] = field(default_factory=set)  # the registrations that use this endpoint
    created: float = 0.0
    created_wall: float = 0.0
    inconclusive: int = 0
    _task: asyncio.Task[None] | None = None
    _sessions: int = 0
    _closed: bool = False
    _probed: asyncio.Event = field(default_factory=asyncio.Event)
    _facts_read: float | None = None  # monotonic time of the last successful facts refresh

    def now(self) -> float:
        return self.monotonic() if self.monotonic is not None else asyncio.get_running_loop().time()

    def start(self) -> None:
        self.created, self.created_wall = self.now(), self.wall()
        self._task = asyncio.create_task(self._run(), name=f"probe-{self.key}")

    @property
    def closed(self) -> bool:
        return self._closed

    async def wait_probed(self) -> None:
        await self._probed.wait()

    async def close(self) -> None:
        """Stop probing; the client closes once no session uses it any more."""
        self._closed = True
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.probe_client is not None:
            await self.probe_client.close()
        if self._sessions == 0:
            await self.client.close()

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[KubeClient]:
        self._sessions += 1
        try:
            yield self.client
        finally:
            self._sessions -= 1
            if self._closed and self._sessions == 0:
                await self.client.close()

    async def probe_once(self) -> float:
        """One heartbeat; returns the delay until the next one."""
        settings = self.settings
        async with self.probe_slots:
            started = self.now()
            prober = self.probe_client or self.client
            liveness = await check_liveness(prober, timeout=settings.probe_timeout)
            if self.on_probed is not None:
                self.on_probed(liveness.reason, self.now() - started)
            if liveness.reason == "Timeout" and self.lag.lost_since(started) > settings.probe_timeout / 4:
                # Our own loop was too busy to read the answer in time: says nothing about the cluster.
                self.inconclusive += 1
                log.info("probe of %s inconclusive: the event loop was busy; retrying", self.key)
                return min(settings.heartbeat_period, settings.probe_timeout) / 2
            previous = self.state
            facts, problem = (previous.facts, previous.facts_problem) if previous else (None, None)
            if liveness.ok and self._facts_due(previous, self.now()):
                result = await read_facts(prober, timeout=settings.probe_timeout)
                if isinstance(result, FactsProblem):
                    problem = result
                else:
                    facts, problem, self._facts_read = result, None, self.now()
        now = self.now()
        state = EndpointState(liveness, facts, problem)
        if liveness.ok:
            state = replace(state, last_success=now, last_success_wall=self.wall())
        elif previous is not None:
            state = replace(state, last_success=previous.last_success, last_success_wall=previous.last_success_wall)
        self.state = state
        self._probed.set()
        if previous is None or previous.shown() != state.shown():
            self.on_change(self)
        return jittered(settings.heartbeat_period, settings.jitter, self.rng)

    def _facts_due(self, previous: EndpointState | None, now: float) -> bool:
        if previous is None or self._facts_read is None or previous.facts_problem is not None:
            return True
        if not previous.liveness.ok:
            return True  # it just came back: it may have been upgraded or resized meanwhile
        return now - self._facts_read >= self.settings.facts_period

    async def _run(self) -> None:
        while True:
            try:
                delay = await self.probe_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                # A bug here must not end the heartbeat of every registration using this cluster.
                log.exception("probe of %s failed unexpectedly", self.key)
                delay = self.settings.heartbeat_period
            await asyncio.sleep(delay)
