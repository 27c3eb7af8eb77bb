"""ClusterRegistration health: the directory's view of the cluster -> status, written only when it changed.

Probing is not done here: ``tmc.clusters`` keeps one heartbeat per (server, credential), shared by every
registration using it, and tells this controller (through a listener) when what a registration shows changed.
A reconcile therefore never waits on a cluster; it reads:

1. the registration's access from the ``ClusterDirectory``: a credential problem (Secret missing, kubeconfig
   refused by the tenant policy) is the user's to fix: a condition, no error;
2. the endpoint's state: liveness, facts (version, discovery, capacity), the last live heartbeat;
3. and derives CredentialsValid / Reachable / Ready (with the grace period), capabilities and facts.

Writes go through the process's one ``StatusWriter`` (only the changed fields, with the leadership fence; a
conflict re-applies this result to a fresh read instead of dropping it), and only when something in status
changed. ``lastHeartbeatTime`` ("TMC saw the cluster
live at this time") is carried along with every such write and, while nothing changes, refreshed once per
``status_period`` (default 5 minutes, as a kubelet refreshes its Node status while its Lease carries the
frequent heartbeat; here the frequent heartbeat stays in memory). So with N healthy registrations the idle
write rate is N / status_period. Readers judge staleness by ``lastHeartbeatTime + status_period``.

Ready tolerates failures for ``grace_period`` after the last live heartbeat *this process observed* (local
time, as client-go judges leases); a process that starts while a cluster is down gives a registration that
was Ready the grace period from its own start. Messages carry absolute times, not countdowns, so a failing
cluster does not rewrite status every heartbeat. Nothing is created on the physical cluster for health, so
no finalizer is owed here.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tmc.api import CLUSTER_REGISTRATION
from tmc.api.conditions import set_condition
from tmc.api.meta import Condition
from tmc.api.quantity import format_bytes, format_cpu
from tmc.clusters import ClusterDirectory, EndpointState, ProbeSettings, RegistrationAccess
from tmc.clusters.endpoint import jittered
from tmc.controllers.clusterregistration.health import effective_capabilities
from tmc.kcp.resources import resource_of
from tmc.kcp.rest import JSON
from tmc.runtime import ObjectKey, Result, StatusWriter, get_logger

REGISTRATIONS = resource_of(CLUSTER_REGISTRATION)
log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class HealthSettings:
    heartbeat_period: float = 10.0  # one liveness request per cluster and credential
    grace_period: float = 30.0  # failures tolerated after the last live heartbeat before Ready=False
    probe_timeout: float = 5.0
    status_period: float = 300.0  # lastHeartbeatTime refreshed at least this often while nothing changes
    facts_period: float = 300.0  # version, discovery, capacity re-read at least this often
    probe_concurrency: int = 32  # probes in flight, apart from the reconcile workers
    jitter: float = 0.1

    def probe_settings(self) -> ProbeSettings:
        return ProbeSettings(
            heartbeat_period=self.heartbeat_period,
            probe_timeout=self.probe_timeout,
            facts_period=self.facts_period,
            probe_concurrency=self.probe_concurrency,
            jitter=self.jitter,
        )


class ClusterRegistrationReconciler:
    def __init__(
        self,
        status: StatusWriter,
        directory: ClusterDirectory,
        settings: HealthSettings,
        *,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.status = status  # writes through the APIExport virtual workspace
        self.directory = directory
        self.registrations = directory.registrations
        self.settings = settings
        self.wall = wall
        self._monotonic = monotonic
        self._rng = rng or random.Random()
        # Our own writes reach the informer a moment later; until then the written object is the truth.
        self._written: dict[ObjectKey, tuple[str, JSON]] = {}

    def monotonic(self) -> float:
        return self._monotonic() if self._monotonic is not None else asyncio.get_running_loop().time()

    async def reconcile(self, key: ObjectKey) -> Result:
        registration = self._current(key)
        if registration is None or registration["metadata"].get("deletionTimestamp"):
            self.directory.forget(key)
            self._written.pop(key, None)
            return Result()
        access = self.directory.access(key)
        if access.problem is None and access.state is None:
            return Result()  # first probe under way; the directory's listener enqueues us when it answers
        recheck = self.settings.status_period

        def desired(obj: JSON) -> JSON:
            nonlocal recheck
            status, recheck = self.desired_status(obj, access)
            return status

        written = await self.status.write(REGISTRATIONS, registration, desired)
        if written is None:
            self.directory.forget(key)  # deleted meanwhile
        elif written is not registration:
            cached = self.registrations.get(key)
            version = None if cached is None else str(cached["metadata"].get("resourceVersion"))
            if version is not None and version != str(written["metadata"].get("resourceVersion")):
                self._written[key] = (version, written)
        return Result(requeue_after=jittered(recheck, self.settings.jitter, self._rng))

    def _current(self, key: ObjectKey) -> JSON | None:
        cached = self.registrations.get(key)
        written = self._written.get(key)
        if cached is None or written is None:
            return cached
        stale_version, newer = written
        if cached["metadata"].get("resourceVersion") == stale_version:
            return newer
        del self._written[key]  # the informer caught up (or someone else wrote): trust the cache again
        return cached

    # -- status ---------------------------------------------------------------------------------------

    def desired_status(self, registration: JSON, access: RegistrationAccess) -> tuple[dict[str, Any], float]:
        """The status to show, and in how many seconds to look again if nothing else happens."""
        previous: dict[str, Any] = dict(registration.get("status") or {})
        generation = registration["metadata"].get("generation")
        now_wall, now = self.wall(), self.monotonic()
        moment = datetime.fromtimestamp(now_wall, UTC).replace(microsecond=0)
        state = access.state
        status: dict[str, Any] = dict(previous)
        if state is not None and state.facts is not None:
            facts = state.facts
            _put(status, "kubernetesVersion", facts.kubernetes_version)
            status["apiResources"] = list(facts.api_resources)
            _put(status, "nodeCount", facts.node_count)
            allocatable = None
            if facts.allocatable_cpu_millis is not None and facts.allocatable_memory_bytes is not None:
                allocatable = {
                    "cpu": format_cpu(facts.allocatable_cpu_millis),
                    "memory": format_bytes(facts.allocatable_memory_bytes),
                }
            _put(status, "allocatable", allocatable)
        declared = [
            (str(c["type"]), bool(c.get("available", True)))
            for c in registration.get("spec", {}).get("capabilities", [])
        ]
        discovered = tuple(status["apiResources"]) if status.get("apiResources") is not None else None
        status["capabilities"] = [
            {
                "type": c.type,
                "available": c.available,
                "declared": c.declared,
                "discovered": bool(c.discovered),
                "reason": c.reason,
            }
            for c in effective_capabilities(declared, discovered)
        ]
        conditions = [Condition.model_validate(c) for c in previous.get("conditions", [])]

        def mark(kind: str, value: str, reason: str, message: str) -> None:
            set_condition(conditions, kind, value, reason, message, generation, moment)  # type: ignore[arg-type]

        recheck = self.settings.status_period
        previous_heartbeat = _parse_time(previous.get("lastHeartbeatTime"))
        if access.problem is not None:
            mark("CredentialsValid", "False", access.problem.reason, access.problem.message)
            mark("Reachable", "Unknown", "NoCredentials", "not probed: no usable credentials")
            mark("Ready", "False", access.problem.reason, access.problem.message)
        else:
            assert state is not None
            liveness = state.liveness
            if liveness.address_refused or liveness.unauthorized:
                mark("CredentialsValid", "False", liveness.reason, liveness.message)
            else:
                mark("CredentialsValid", "True", "KubeconfigLoaded", "kubeconfig Secret read and accepted by policy")
            if liveness.address_refused:
                mark("Reachable", "Unknown", "NotProbed", "not contacted: the server address is not allowed")
            elif liveness.ok or liveness.reason in ("Unauthorized", "NotReady"):
                mark("Reachable", "True", "Probed", "the API server answered")
            else:
                mark("Reachable", "False", liveness.reason, liveness.message)
            ready, reason, message, until = self._ready(state, access, previous, previous_heartbeat, now)
            mark("Ready", "True" if ready else "False", reason, message)
            if until is not None:
                recheck = max(until, 0.05)
        status["conditions"] = [c.to_dict() for c in conditions]

        latest = state.last_success_wall if state is not None and access.problem is None else None
        if latest is not None and (previous_heartbeat is None or latest > previous_heartbeat):
            due = previous_heartbeat is None or now_wall - previous_heartbeat >= self.settings.status_period
            if due or status != previous:
                status["lastHeartbeatTime"] = _format_time(latest)
                previous_heartbeat = latest
        healthy = state is not None and state.usable and access.problem is None
        if healthy and previous_heartbeat is not None:
            recheck = max(previous_heartbeat + self.settings.status_period - now_wall, self.settings.heartbeat_period)
        return status, recheck

    def _ready(
        self,
        state: EndpointState,
        access: RegistrationAccess,
        previous: dict[str, Any],
        previous_heartbeat: float | None,
        now: float,
    ) -> tuple[bool, str, str, float | None]:
        """(ready, reason, message, seconds until the verdict changes by itself or None)."""
        if state.usable:
            return True, "ClusterReady", state.message, None
        assert access.endpoint is not None
        grace = self.settings.grace_period
        anchor: tuple[float, float] | None = None
        if state.last_success is not None and state.last_success_wall is not None:
            anchor = (state.last_success, state.last_success_wall)
        elif _condition_status(previous, "Ready") == "True":
            # Ready before this process started watching: the grace runs from when it started.
            anchor = (access.endpoint.created, access.endpoint.created_wall)
        if anchor is not None and now < anchor[0] + grace:
            return (
                True,
                "HeartbeatLate",
                f"last probe failed ({state.reason}); NotReady at {_format_time(anchor[1] + grace)} unless it recovers",
                anchor[0] + grace - now,
            )
        since = state.last_success_wall or previous_heartbeat
        if since is not None:
            return (
                False,
                "HeartbeatMissed",
                f"no live heartbeat since {_format_time(since)}: {state.message}",
                None,
            )
        return False, state.reason, state.message, None


def _put(status: dict[str, Any], field: str, value: object) -> None:
    # Absent rather than null: a null in a merge patch deletes the field, and the next comparison would differ.
    if value is None:
        status.pop(field, None)
    else:
        status[field] = value


def _condition_status(status: dict[str, Any], kind: str) -> str | None:
    for condition in status.get("conditions") or []:
        if condition.get("type") == kind:
            return str(condition.get("status"))
    return None


def _format_time(wall: float) -> str:
    return datetime.fromtimestamp(wall, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value: object) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None
