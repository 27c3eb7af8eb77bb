"""Leader election over a ``coordination.k8s.io/v1`` Lease, as client-go's ``leaderelection`` does it.

Written here because the Python options either elect over ConfigMaps (kopf peering, a different protocol)
or are synchronous (the kubernetes client's ``leaderelection``), and because the Lease must be addressed in
a kcp logical cluster by path, through our ``KubeClient``.

- A candidate takes the Lease when it is absent, has no holder, or is expired:
  ``renewTime + leaseDurationSeconds < now``.
- Every write is a PUT carrying the resourceVersion that was read: if another candidate wrote in between,
  the server answers 409 and this candidate lost the race (optimistic concurrency, no lock service).
- Taking an existing Lease (expired, or released with an empty holder) increments ``leaseTransitions``
  and resets ``acquireTime``; creating it starts at 0.
- The leader renews every ``renew_interval``; after a failed renewal it retries every ``retry_period``;
  when no renewal has succeeded for ``renew_deadline`` seconds, or another holder is seen, it stops
  leading (the leading work is cancelled). ``renew_deadline < lease_duration`` so that a leader stops
  before anyone else may take over.
- Leaving voluntarily releases the Lease (empty holder) so a standby takes over at once.

``clock`` (aware UTC ``datetime``) gives the times written to and compared with the Lease; the loop's
monotonic clock measures the renew deadline.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from tmc.errors import ApiError, ConfigError, ConflictError, NotFoundError, TMCError
from tmc.kcp.paths import LogicalClusterPath
from tmc.kcp.resources import LEASES, Resource

log = logging.getLogger(__name__)

JSON = dict[str, Any]
Clock = Callable[[], datetime]


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


def utc_now() -> datetime:
    return datetime.now(UTC)


def format_micro_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_micro_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class LeaderElector:
    def __init__(
        self,
        client: LeaseClient,
        *,
        name: str,
        namespace: str,
        identity: str,
        cluster: LogicalClusterPath | None = None,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        renew_interval: float = 2.0,
        retry_period: float = 2.0,
        release_on_exit: bool = True,
        clock: Clock = utc_now,
    ) -> None:
        if not identity:
            raise ConfigError("leader election: identity must not be empty")
        if not 0 < renew_interval < renew_deadline < lease_duration:
            raise ConfigError(
                "leader election: need 0 < renew_interval < renew_deadline < lease_duration, got "
                f"{renew_interval} / {renew_deadline} / {lease_duration}"
            )
        if retry_period <= 0:
            raise ConfigError(f"leader election: retry_period must be > 0, got {retry_period}")
        self.client = client
        self.name = name
        self.namespace = namespace
        self.identity = identity
        self.cluster = cluster
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.renew_interval = renew_interval
        self.retry_period = retry_period
        self.release_on_exit = release_on_exit
        self.clock = clock
        self.observed_holder: str | None = None
        self._leading = False

    @property
    def is_leader(self) -> bool:
        return self._leading

    # -- one attempt ----------------------------------------------------------------------------------

    async def try_acquire_or_renew(self) -> bool:
        """One read-modify-write of the Lease; True if this candidate holds it afterwards."""
        now = self.clock()
        try:
            lease = await self.client.get(LEASES, self.name, cluster=self.cluster, namespace=self.namespace)
        except NotFoundError:
            return await self._create(now)
        spec: JSON = lease.setdefault("spec", {})
        holder = spec.get("holderIdentity") or ""
        self.observed_holder = holder or None
        if holder and holder != self.identity and not self._expired(spec, now):
            return False
        if holder != self.identity:
            spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + 1
            spec["acquireTime"] = format_micro_time(now)
        spec["holderIdentity"] = self.identity
        spec["renewTime"] = format_micro_time(now)
        spec["leaseDurationSeconds"] = math.ceil(self.lease_duration)
        try:
            await self.client.replace(LEASES, lease, cluster=self.cluster)  # carries the RV we read
        except ConflictError:
            return False
        self.observed_holder = self.identity
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
            await self.client.create(LEASES, body, cluster=self.cluster, namespace=self.namespace)
        except ConflictError:  # AlreadyExists: another candidate created it first
            return False
        self.observed_holder = self.identity
        return True

    def _expired(self, spec: JSON, now: datetime) -> bool:
        renewed = spec.get("renewTime") or spec.get("acquireTime")
        if not renewed:
            return True
        duration = float(spec.get("leaseDurationSeconds") or 0)
        return parse_micro_time(renewed) + timedelta(seconds=duration) < now

    async def release(self) -> None:
        """Give the Lease up (empty holder) so a standby need not wait for it to expire; best effort."""
        try:
            lease = await self.client.get(LEASES, self.name, cluster=self.cluster, namespace=self.namespace)
            spec: JSON = lease.setdefault("spec", {})
            if spec.get("holderIdentity") != self.identity:
                return
            spec["holderIdentity"] = ""
            spec["leaseDurationSeconds"] = 1
            spec["renewTime"] = format_micro_time(self.clock())
            await self.client.replace(LEASES, lease, cluster=self.cluster)
            log.info("leader election %s: %s released the lease", self.name, self.identity)
        except ApiError as exc:
            log.warning("leader election %s: could not release the lease: %s", self.name, exc)

    # -- leading --------------------------------------------------------------------------------------

    async def acquire(self) -> None:
        """Return once this candidate holds the Lease, trying every ``retry_period``."""
        while True:
            try:
                if await self.try_acquire_or_renew():
                    log.info("leader election %s: %s became the leader", self.name, self.identity)
                    return
            except ApiError as exc:
                log.warning("leader election %s: acquiring failed: %s", self.name, exc)
            await asyncio.sleep(self.retry_period)

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
            self._leading = False
            body.cancel()

        self._leading = True
        renewer = asyncio.create_task(self._renew_until_lost(on_lost), name=f"lease-renew-{self.name}")
        try:
            yield
        except asyncio.CancelledError:
            if lost and body.uncancel() == 0:
                message = f"{self.identity} lost the lease {self.namespace}/{self.name}"
                raise LeadershipLostError(message) from None
            raise
        finally:
            self._leading = False
            renewer.cancel()
            await asyncio.gather(renewer, return_exceptions=True)
            if not lost and self.release_on_exit:
                await self.release()

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

    async def _renew_until_lost(self, on_lost: Callable[[], None]) -> None:
        loop = asyncio.get_running_loop()
        last_renewed = loop.time()
        delay = self.renew_interval
        while True:
            await asyncio.sleep(delay)
            remaining = self.renew_deadline - (loop.time() - last_renewed)
            renewed = False
            try:
                renewed = await asyncio.wait_for(self.try_acquire_or_renew(), timeout=max(remaining, 0.001))
            except (ApiError, TimeoutError) as exc:
                log.warning("leader election %s: renewing failed: %s", self.name, exc or "timed out")
            if renewed:
                last_renewed = loop.time()
                delay = self.renew_interval
                continue
            if self.observed_holder not in (None, self.identity):
                log.warning("leader election %s: %s now holds the lease", self.name, self.observed_holder)
                on_lost()
                return
            if loop.time() - last_renewed >= self.renew_deadline:
                log.warning("leader election %s: no renewal for %.1fs; stepping down", self.name, self.renew_deadline)
                on_lost()
                return
            delay = min(self.retry_period, max(self.renew_deadline - (loop.time() - last_renewed), 0.001))
