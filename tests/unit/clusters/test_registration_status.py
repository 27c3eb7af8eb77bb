"""ClusterRegistration status from the directory's view: conditions, grace, and writes only when something changed."""

from __future__ import annotations

import copy
import random
from typing import Any, cast

import pytest

from tmc.clusters import (
    ClusterDirectory,
    ClusterUnavailable,
    CredentialsRefused,
    EndpointState,
    Facts,
    Liveness,
    RegistrationAccess,
)
from tmc.controllers.clusterregistration.reconcile import ClusterRegistrationReconciler, HealthSettings
from tmc.errors import ConflictError
from tmc.runtime import ObjectKey, StatusWriter

from ._fakes import FakeCluster, ManualClock, endpoint

JSON = dict[str, Any]
KEY = ObjectKey("tenant-a", "", "west")
LIVE = Liveness(True, "Live", "https://cluster.example is ready")
DOWN = Liveness(False, "Unreachable", "GET /readyz: ConnectError: connection refused")
FACTS = Facts("v1.36.3", ("deployments.apps/v1", "pods/v1"), 2, 8000, 16 * 2**30)


class FakeRegistrations:
    def __init__(self, obj: JSON) -> None:
        self.obj = obj

    def get(self, key: ObjectKey) -> JSON | None:
        return self.obj


class FakeDirectory:
    def __init__(self, registrations: FakeRegistrations, access: RegistrationAccess) -> None:
        self.registrations = registrations
        self.access_now = access
        self.forgotten: list[ObjectKey] = []

    def access(self, key: ObjectKey) -> RegistrationAccess:
        return self.access_now

    def forget(self, key: ObjectKey) -> None:
        self.forgotten.append(key)


def apply_merge_patch(target: JSON, patch: JSON) -> JSON:
    """RFC 7386: null deletes, mappings merge, anything else replaces."""
    result = dict(target)
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = apply_merge_patch(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


class FakeKcp:
    """The status subresource with optimistic concurrency; ``conflicts`` patches fail with 409 first."""

    def __init__(self, registrations: FakeRegistrations) -> None:
        self.registrations = registrations
        self.writes: list[JSON] = []
        self.conflicts = 0

    async def get(self, resource: Any, name: str, **_: Any) -> JSON:
        return copy.deepcopy(self.registrations.obj)

    async def merge_patch(self, resource: Any, name: str, patch: JSON, **_: Any) -> JSON:
        obj = self.registrations.obj
        if self.conflicts or patch["metadata"]["resourceVersion"] != obj["metadata"]["resourceVersion"]:
            self.conflicts = max(0, self.conflicts - 1)
            obj["metadata"]["resourceVersion"] = str(int(obj["metadata"]["resourceVersion"]) + 1)
            raise ConflictError(409, "Conflict", "the object has been modified")
        self.writes.append(copy.deepcopy(patch["status"]))
        obj["status"] = apply_merge_patch(obj.get("status") or {}, patch["status"])
        obj["metadata"]["resourceVersion"] = str(int(obj["metadata"]["resourceVersion"]) + 1)
        return copy.deepcopy(obj)


class Harness:
    def __init__(self, access: RegistrationAccess | None = None, status: JSON | None = None) -> None:
        self.clock = ManualClock()
        self.endpoint = endpoint(FakeCluster(), self.clock)
        obj: JSON = {
            "metadata": {"name": "west", "generation": 1, "resourceVersion": "1"},
            "spec": {"location": "x", "capabilities": [{"type": "compute"}]},
        }
        if status is not None:
            obj["status"] = status
        self.registrations = FakeRegistrations(obj)
        self.directory = FakeDirectory(self.registrations, access or RegistrationAccess(endpoint=self.endpoint))
        self.kcp = FakeKcp(self.registrations)
        self.settings = HealthSettings(heartbeat_period=10, grace_period=30, status_period=300, jitter=0.0)
        self.reconciler = ClusterRegistrationReconciler(
            StatusWriter(cast(Any, self.kcp), field_manager="test"),
            cast(ClusterDirectory, self.directory),
            self.settings,
            wall=self.clock.wall,
            monotonic=self.clock.monotonic,
            rng=random.Random(0),
        )

    def beat(self, liveness: Liveness = LIVE, facts: Facts | None = FACTS) -> None:
        """The endpoint's heartbeat at the current time."""
        previous = self.endpoint.state
        state = EndpointState(liveness, facts)
        if liveness.ok:
            state = EndpointState(liveness, facts, None, self.clock.now, self.clock.wall())
        elif previous is not None:
            state = EndpointState(liveness, facts, None, previous.last_success, previous.last_success_wall)
        self.endpoint.state = state

    async def reconcile(self) -> float | None:
        return (await self.reconciler.reconcile(KEY)).requeue_after

    @property
    def status(self) -> JSON:
        status: JSON = self.registrations.obj.get("status") or {}
        return status


def condition(status: JSON, kind: str) -> JSON:
    return next(c for c in status["conditions"] if c["type"] == kind)


async def test_a_live_cluster_is_ready_with_its_facts_and_heartbeat() -> None:
    h = Harness()
    h.beat()
    await h.reconcile()
    assert len(h.kcp.writes) == 1
    assert (condition(h.status, "Ready")["status"], condition(h.status, "Ready")["reason"]) == ("True", "ClusterReady")
    assert condition(h.status, "CredentialsValid")["status"] == "True"
    assert condition(h.status, "Reachable")["status"] == "True"
    assert h.status["kubernetesVersion"] == "v1.36.3"
    assert h.status["allocatable"] == {"cpu": "8", "memory": "16Gi"}
    assert h.status["capabilities"][0]["discovered"] is True
    assert h.status["lastHeartbeatTime"] == "2025-06-15T15:06:40Z"


async def test_nothing_changing_writes_nothing_until_the_heartbeat_is_due() -> None:
    h = Harness()
    h.beat()
    await h.reconcile()
    for _ in range(29):  # 290 s of live heartbeats
        h.clock.advance(10)
        h.beat()
        requeue = await h.reconcile()
    assert len(h.kcp.writes) == 1
    assert requeue == pytest.approx(10)  # due at 300 s after the written heartbeat
    h.clock.advance(10)
    h.beat()
    requeue = await h.reconcile()
    assert len(h.kcp.writes) == 2
    assert h.status["lastHeartbeatTime"] == "2025-06-15T15:11:40Z"
    assert requeue == pytest.approx(300)


async def test_a_failure_is_tolerated_for_the_grace_period_then_ready_turns_false() -> None:
    h = Harness()
    h.beat()
    await h.reconcile()
    h.clock.advance(10)
    h.beat(DOWN)
    requeue = await h.reconcile()
    ready = condition(h.status, "Ready")
    assert (ready["status"], ready["reason"]) == ("True", "HeartbeatLate")
    assert "NotReady at 2025-06-15T15:07:10Z" in ready["message"]
    assert condition(h.status, "Reachable")["status"] == "False"
    assert requeue == pytest.approx(20)
    writes = len(h.kcp.writes)
    h.clock.advance(10)
    h.beat(DOWN)
    await h.reconcile()
    assert len(h.kcp.writes) == writes  # still late, same message: no write
    h.clock.advance(10)
    await h.reconcile()
    ready = condition(h.status, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "HeartbeatMissed")
    assert "since 2025-06-15T15:06:40Z" in ready["message"]


async def test_a_process_started_while_the_cluster_is_down_grants_the_grace_from_its_start() -> None:
    previous = {
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "ClusterReady",
                "message": "",
                "observedGeneration": 1,
                "lastTransitionTime": "2025-06-15T15:00:00Z",
            },
        ],
        "lastHeartbeatTime": "2025-06-15T15:00:00Z",
    }
    h = Harness(status=previous)
    h.beat(DOWN)
    await h.reconcile()
    assert condition(h.status, "Ready")["reason"] == "HeartbeatLate"
    h.clock.advance(31)
    await h.reconcile()
    ready = condition(h.status, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "HeartbeatMissed")
    assert "since 2025-06-15T15:00:00Z" in ready["message"]


@pytest.mark.parametrize(
    ("problem", "reason"),
    [
        (CredentialsRefused("ExecPluginNotAllowed", "field users[0].user.exec is refused"), "ExecPluginNotAllowed"),
        (CredentialsRefused("SecretNotFound", "Secret default/k does not exist"), "SecretNotFound"),
    ],
    ids=["a refused kubeconfig", "a missing Secret"],
)
async def test_a_credential_problem_is_a_condition_and_not_ready(problem: ClusterUnavailable, reason: str) -> None:
    h = Harness(RegistrationAccess(problem=problem))
    await h.reconcile()
    assert (condition(h.status, "CredentialsValid")["status"], condition(h.status, "CredentialsValid")["reason"]) == (
        "False",
        reason,
    )
    assert condition(h.status, "Reachable")["status"] == "Unknown"
    assert condition(h.status, "Ready")["status"] == "False"
    assert "lastHeartbeatTime" not in h.status


@pytest.mark.parametrize(
    ("liveness", "reachable"),
    [
        (Liveness(False, "ServerAddressNotAllowed", "the server 127.0.0.1 is a loopback address"), "Unknown"),
        (Liveness(False, "Unauthorized", "rejected the credentials (HTTP 401)"), "True"),
    ],
    ids=["a refused address", "rejected credentials"],
)
async def test_a_cluster_refusing_us_or_refused_by_policy_invalidates_the_credentials(
    liveness: Liveness, reachable: str
) -> None:
    h = Harness()
    h.beat(liveness, facts=None)
    await h.reconcile()
    credentials = condition(h.status, "CredentialsValid")
    assert (credentials["status"], credentials["reason"]) == ("False", liveness.reason)
    assert condition(h.status, "Reachable")["status"] == reachable
    assert condition(h.status, "Ready")["status"] == "False"


async def test_the_first_probe_pending_writes_nothing() -> None:
    h = Harness()
    assert await h.reconcile() is None
    assert h.kcp.writes == []


async def test_a_conflict_reapplies_the_result_to_a_fresh_read_instead_of_dropping_it() -> None:
    h = Harness()
    h.beat()
    h.kcp.conflicts = 2
    await h.reconcile()
    assert len(h.kcp.writes) == 1
    assert condition(h.status, "Ready")["status"] == "True"


async def test_only_what_changed_is_sent() -> None:
    h = Harness()
    h.beat()
    await h.reconcile()
    h.clock.advance(10)
    h.beat(DOWN)
    await h.reconcile()
    assert set(h.kcp.writes[1]) == {"conditions"}  # facts and heartbeat unchanged: not resent


async def test_a_deleted_registration_is_forgotten() -> None:
    h = Harness()
    h.registrations.obj["metadata"]["deletionTimestamp"] = "2025-01-01T00:00:00Z"
    await h.reconcile()
    assert h.directory.forgotten == [KEY]
