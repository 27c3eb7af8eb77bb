"""Leader election over a ``coordination.k8s.io/v1`` Lease, as client-go's ``leaderelection`` does it.

Written here because the Python options either elect over ConfigMaps (kopf peering, a different protocol)
or are synchronous (the kubernetes client's ``leaderelection``), and because the Lease must be addressed in
a kcp logical cluster by path, through our ``KubeClient``.

**Expiry is judged by locally observed time**, never by the timestamps in the Lease (as client-go): a
candidate remembers the last Lease record it saw (holder, renew/acquire times, duration, transitions) and the
moment, on its own monotonic clock, at which it *observed that record change*. For this candidate the Lease
has expired once ``leaseDurationSeconds`` have passed on its own clock without a change. Clock skew between
processes, or a holder writing timestamps from a wrong clock, therefore cannot make a standby take over early.
The price, as in client-go: a fresh candidate waits one full duration after first seeing a held Lease, even if
its holder died long ago. ``renewTime``/``acquireTime`` are still written (wall clock) for humans and for
other implementations.

- Every write is a PUT carrying the resourceVersion that was read: if another candidate wrote in between,
  the server answers 409 and this candidate lost the race (optimistic concurrency, no lock service).
- Taking an existing Lease (expired, or released with an empty holder) increments ``leaseTransitions``
  and resets ``acquireTime``; creating it starts at 0.
- Observations come from every read, and from ``observe()``, which a watch of the Lease feeds
  (``lease_informer``; the Manager runs it). With the watch a standby sleeps until the observed record would
  expire or changes (a release wakes it at once): no polling. Without it, it re-reads every ``retry_period``.
- The leader renews every ``retry_period``. A renewal that succeeds makes the lease valid for this process
  until *the moment the attempt started* + ``renew_deadline``. When no renewal has succeeded by then, or a read
  shows another holder, it stops leading, and the ``on_lost`` callback runs synchronously at that moment (the
  Manager cancels every in-flight reconcile there).

  Why no one else can lead before that: the successful write happened after the attempt started, so any other
  candidate observed it later than that, and may take over only ``lease_duration`` after its observation,
  which is later than our deadline because ``renew_deadline < lease_duration``. The difference is the time
  cancelled reconciles have to stop (asyncio cancellation takes effect at their next await).
- ``holds_lease()`` is the fence writers check (``tmc.runtime.status``): true only while leading *and* before
  that deadline on the monotonic clock, so a process that was frozen (SIGSTOP, a paused VM) and resumes past
  its deadline refuses to write even before its renew loop has noticed.
- Leaving voluntarily releases the Lease (empty holder) so a standby takes over at once.
- Every process needs its own identity: ``default_identity()`` is the hostname plus a random suffix.
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, Protocol

from tmc.errors import ApiError, ConfigError, ConflictError, NotFoundError, TMCError
from tmc.kcp.paths import LogicalClusterPath
from tmc.kcp.resources import LEASES, Resource
from tmc.runtime.clock import SYSTEM_CLOCK, Clock, Deadline, utc, wait_event
from tmc.runtime.informer import Informer, ListWatchClient
from tmc.runtime.metrics import RuntimeMetrics

log = logging.getLogger(__name__)

JSON = dict[str, Any]
# A timer may fire a hair before its deadline (clock resolution); waking slightly late avoids a second wait.
_EXPIRY_SLACK = 0.01


class LeadershipLostError(TMCError):
    """This candidate stopped being the leader (renewal failed past the deadline, or another holder won)."""


class LeaseClient(Protocol):
    """What the elector needs of ``tmc.kcp.rest.KubeClient`` (an in-memory fake in unit tests)."""

    async def get(
        self,
        resource: Resource,
        name: str,
        *,
        cluster: LogicalClusterPath | None = None,
        namespace: str | None = None,
    ) -> JSON: ...

    async def create(
        self,
        resource: Resource,
        body: JSON,
        *,
        cluster: LogicalClusterPath | None = None,
        namespace: str | None = None,
    ) -> JSON: ...

    async def replace(
        self,
        resource: Resource,
        body: JSON,
        *,
        cluster: LogicalClusterPath | None = None,
    ) -> JSON: ...


def default_identity() -> str:
    """Unique per process: two replicas on one host (or a restart reusing a pod name) never share one."""
    return f"{socket.gethostname()}_{secrets.token_hex(4)}"


def format_micro_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_micro_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _record(spec: JSON) -> tuple[str, str, str, str, str]:
    """What counts as "the Lease changed" (client-go compares the whole election record)."""
    return (
        str(spec.get("holderIdentity") or ""),
        str(spec.get("renewTime") or ""),
        str(spec.get("acquireTime") or ""),
        str(spec.get("leaseDurationSeconds") or ""),
        str(spec.get("leaseTransitions") or ""),
    )


class LeaderElector:
    def __init__(
        self,
        client: LeaseClient,
        *,
        name: str,
        namespace: str,
        identity: str | None = None,
        cluster: LogicalClusterPath | None = None,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
        release_on_exit: bool = True,
        clock: Clock = SYSTEM_CLOCK,
        metrics: RuntimeMetrics | None = None,
    ) -> None:
        """``identity`` None: ``default_identity()``; an empty string is refused (it would mean "no holder")."""
        if identity is not None and not identity.strip():
            raise ConfigError("leader election: identity must not be empty")
        if not 0 < retry_period < renew_deadline < lease_duration:
            raise ConfigError(
                "leader election: need 0 < retry_period < renew_deadline < lease_duration, got "
                f"{retry_period} / {renew_deadline} / {lease_duration}"
            )
        self.client = client
        self.name = name
        self.namespace = namespace
        self.identity = identity if identity is not None else default_identity()
        self.cluster = cluster
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self.release_on_exit = release_on_exit
        self.clock = clock
        self.observed_holder: str | None = None
        self._observed: tuple[str, str, str, str, str] | None = None
        self._observed_at = 0.0
        self._observed_duration = 0.0
        self._watched = False
        self._changed = asyncio.Event()
        self._leading = False
        self._valid_until = 0.0
        self._stopped_renewers: set[asyncio.Task[Any]] = set()
        metrics = metrics if metrics is not None else RuntimeMetrics()
        self._leader_gauge = metrics.leader.labels(name)
        self._lost_total = metrics.leader_lost_total.labels(name)

    @property
    def is_leader(self) -> bool:
        return self._leading

    def holds_lease(self) -> bool:
        """Leading, and the last successful renewal is recent enough that nobody else can have taken over."""
        return self._leading and self.clock.monotonic() < self._valid_until

    # -- observing ------------------------------------------------------------------------------------

    def observe(self, lease: JSON | None) -> None:
        """A watch saw the Lease (``None``: deleted). Wakes a waiting standby, or a leader if someone else holds it."""
        self._watched = True
        self._observe_spec(None if lease is None else (lease.get("spec") or {}))

    def _observe_spec(self, spec: JSON | None) -> None:
        record = _record(spec) if spec is not None else None
        if record == self._observed:
            return
        self._observed = record
        self._observed_at = self.clock.monotonic()
        if spec is None:
            self.observed_holder = None
            self._observed_duration = 0.0
        else:
            self.observed_holder = str(spec.get("holderIdentity") or "") or None
            self._observed_duration = float(spec.get("leaseDurationSeconds") or 0)
        # Our own renewals must not wake our renew loop (it would renew in a tight loop).
        if not self._leading or self.observed_holder != self.identity:
            self._changed.set()

    def _expired(self) -> bool:
        return self._observed_at + self._observed_duration <= self.clock.monotonic()

    def _until_expiry(self) -> float:
        return max(self._observed_at + self._observed_duration - self.clock.monotonic(), 0.0) + _EXPIRY_SLACK

    def lease_informer(self, client: ListWatchClient, *, metrics: RuntimeMetrics | None = None) -> Informer:
        """A watch of just this Lease that feeds ``observe``; add it to the Manager next to the elector."""
        informer = Informer(
            client,
            LEASES,
            cluster=self.cluster,
            namespace=self.namespace,
            field_selector=f"metadata.name={self.name}",
            resync_period=None,
            metrics=metrics,
            clock=self.clock,
        )
        informer.add_handler(
            on_add=self.observe,
            on_update=lambda old, new: self.observe(new),
            on_delete=lambda obj: self.observe(None),
        )
        return informer

    # -- one attempt ----------------------------------------------------------------------------------

    async def try_acquire_or_renew(self) -> bool:
        """One read-modify-write of the Lease; True if this candidate holds it afterwards."""
        started = self.clock.monotonic()
        now = utc(self.clock)
        try:
            lease = await self.client.get(LEASES, self.name, cluster=self.cluster, namespace=self.namespace)
        except NotFoundError:
            self._observe_spec(None)
            created = await self._create(now)
            if created:
                self._valid_until = started + self.renew_deadline
            return created
        spec: JSON = lease.setdefault("spec", {})
        self._observe_spec(spec)
        holder = spec.get("holderIdentity") or ""
        if holder and holder != self.identity and not self._expired():
            return False
        if holder != self.identity:
            spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + 1
            spec["acquireTime"] = format_micro_time(now)
        spec["holderIdentity"] = self.identity
        spec["renewTime"] = format_micro_time(now)
        spec["leaseDurationSeconds"] = math.ceil(self.lease_duration)
        try:
            written = await self.client.replace(LEASES, lease, cluster=self.cluster)  # carries the RV we read
        except ConflictError:
            return False
        self._observe_spec(written.get("spec") or spec)
        self._valid_until = started + self.renew_deadline
        return True

    async def _create(self, now: datetime) -> bool:
        body: JSON = {
            "apiVersion": LEASES.api_version,
            "kind": LEASES.kind,
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": math.ceil(self.lease_duration),
                "acquireTime": format_micro_time(now),
                "renewTime": format_micro_time(now),
                "leaseTransitions": 0,
            },
        }
        try:
            created = await self.client.create(LEASES, body, cluster=self.cluster, namespace=self.namespace)
        except ConflictError:  # AlreadyExists: another candidate created it first
            return False
        self._observe_spec(created.get("spec") or body["spec"])
        return True

    async def release(self) -> None:
        """Give the Lease up (empty holder) so a standby need not wait for it to expire; best effort."""
        self._set_leading(False)
        try:
            lease = await self.client.get(LEASES, self.name, cluster=self.cluster, namespace=self.namespace)
            spec: JSON = lease.setdefault("spec", {})
            if spec.get("holderIdentity") != self.identity:
                return
            spec["holderIdentity"] = ""
            spec["leaseDurationSeconds"] = 1
            spec["renewTime"] = format_micro_time(utc(self.clock))
            await self.client.replace(LEASES, lease, cluster=self.cluster)
            log.info("leader election %s: %s released the lease", self.name, self.identity)
        except ApiError as exc:
            log.warning("leader election %s: could not release the lease: %s", self.name, exc)

    # -- leading --------------------------------------------------------------------------------------

    async def acquire(self) -> None:
        """Return once this candidate holds the Lease (and ``is_leader`` is true)."""
        while True:
            self._changed.clear()  # before the attempt, so a change observed during it is not missed
            try:
                if await self.try_acquire_or_renew():
                    self._changed.clear()  # what we saw while acquiring is no news for the renew loop
                    self._set_leading(True)
                    log.info("leader election %s: %s became the leader", self.name, self.identity)
                    return
                wait = self._until_expiry() if self.observed_holder else self.retry_period
                if not self._watched:
                    wait = min(wait, self.retry_period)
            except ApiError as exc:
                log.warning("leader election %s: acquiring failed: %s", self.name, exc)
                wait = self.retry_period
            await wait_event(self.clock, self._changed, wait)

    async def keep_leading(self, on_lost: Callable[[], None]) -> None:
        """Renew every ``retry_period`` until leadership ends; then call ``on_lost`` (synchronously) and return.

        Cancel this task to stop renewing without calling ``on_lost`` (then ``release``).
        """
        while True:
            remaining = self._valid_until - self.clock.monotonic()
            if remaining > 0:
                # Woken early when the watch shows another holder; the read in the attempt decides.
                await wait_event(self.clock, self._changed, min(self.retry_period, remaining))
                self._changed.clear()
                remaining = self._valid_until - self.clock.monotonic()
            if remaining <= 0:
                self._lose(f"no renewal within {self.renew_deadline:g}s", on_lost)
                return
            try:
                async with Deadline(self.clock, remaining):
                    renewed = await self.try_acquire_or_renew()
            except (ApiError, TimeoutError) as exc:
                self._raise_if_stopped()
                log.warning("leader election %s: renewing failed: %s", self.name, exc or "timed out")
                continue
            except Exception:
                self._raise_if_stopped()
                # A bug must not leave a leader that no longer renews: log it; the deadline still applies.
                log.exception("leader election %s: renewing failed unexpectedly", self.name)
                continue
            if not renewed and self.observed_holder not in (None, self.identity):
                self._lose(f"{self.observed_holder} now holds the lease", on_lost)
                return

    async def stop_renewing(self, renewer: asyncio.Task[None]) -> None:
        """Cancel ``renewer`` (a ``keep_leading`` task) and wait for it; it ends even if a failing request on its
        way turned the cancellation into an error it would otherwise log and retry (see tmc.runtime.controller)."""
        if not renewer.done():
            self._stopped_renewers.add(renewer)
            renewer.add_done_callback(self._stopped_renewers.discard)
        renewer.cancel()
        await asyncio.gather(renewer, return_exceptions=True)

    def _raise_if_stopped(self) -> None:
        if asyncio.current_task() in self._stopped_renewers:
            raise asyncio.CancelledError

    def _lose(self, why: str, on_lost: Callable[[], None]) -> None:
        self._set_leading(False)
        self._lost_total.inc()
        log.warning("leader election %s: %s stops leading: %s", self.name, self.identity, why)
        on_lost()

    def _set_leading(self, leading: bool) -> None:
        self._leading = leading
        self._leader_gauge.set(1 if leading else 0)

    @asynccontextmanager
    async def leading(self) -> AsyncIterator[None]:
        """Acquire, then run the body while renewing; ``LeadershipLostError`` in the body if it ends."""
        await self.acquire()
        body = asyncio.current_task()
        if body is None:
            raise RuntimeError("leading() must run inside an asyncio task")
        lost = False

        def on_lost() -> None:
            nonlocal lost
            lost = True
            body.cancel()

        renewer = asyncio.create_task(self.keep_leading(on_lost), name=f"lease-renew-{self.name}")
        try:
            yield
        except asyncio.CancelledError:
            if lost and body.uncancel() == 0:
                message = f"{self.identity} lost the lease {self.namespace}/{self.name}"
                raise LeadershipLostError(message) from None
            raise
        finally:
            await self.stop_renewing(renewer)
            if lost:
                self._set_leading(False)
            elif self.release_on_exit:
                await self.release()
            else:
                self._set_leading(False)

    async def run(
        self,
        on_started_leading: Callable[[], Awaitable[None]],
        on_stopped_leading: Callable[[], None] | None = None,
    ) -> None:
        """Wait for leadership, run ``on_started_leading`` until it returns or leadership is lost."""
        started = False
        try:
            async with self.leading():
                started = True
                await on_started_leading()
        except LeadershipLostError as exc:
            log.warning("leader election %s: %s", self.name, exc)
        finally:
            if started and on_stopped_leading is not None:
                on_stopped_leading()
