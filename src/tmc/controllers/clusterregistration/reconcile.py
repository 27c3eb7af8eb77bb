"""ClusterRegistration health: credentials -> probe -> status, on a heartbeat per registration.

Steps: (1) read the kubeconfig Secret from the registration's own workspace (a problem there is the user's to
fix: a condition, no error, retried at the next heartbeat); (2) probe the cluster with a deadline; (3) derive
Reachable / Ready (with the grace period) / Credentials conditions, capabilities, version, resources and
capacity; (4) write status through the status subresource, only when something changed or a heartbeat is
due. Nothing is created on the physical cluster for health tracking, so no finalizer is owed here; the sync
engine adds its own finalizer where it leaves copies behind.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tmc.api import CLUSTER_REGISTRATION
from tmc.api.conditions import set_condition
from tmc.api.meta import Condition
from tmc.api.quantity import format_bytes, format_cpu
from tmc.controllers.clusterregistration.credentials import CredentialProblem, load_cluster_access
from tmc.controllers.clusterregistration.health import effective_capabilities, ready_verdict
from tmc.controllers.clusterregistration.probe import ProbeResult, probe_cluster
from tmc.errors import ConflictError, NotFoundError
from tmc.kcp.paths import LogicalClusterPath
from tmc.kcp.resources import resource_of
from tmc.kcp.rest import JSON, KubeClient
from tmc.runtime import Informer, ObjectKey, Result, get_logger

REGISTRATIONS = resource_of(CLUSTER_REGISTRATION)
log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class HealthSettings:
    heartbeat_period: float = 10.0
    grace_period: float = 30.0
    probe_timeout: float = 5.0


class ClusterRegistrationReconciler:
    def __init__(
        self,
        client: KubeClient,
        registrations: Informer,
        settings: HealthSettings,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client  # addressed at the APIExport virtual workspace
        self.registrations = registrations
        self.settings = settings
        self.clock = clock

    async def reconcile(self, key: ObjectKey) -> Result:
        registration = self.registrations.get(key)
        if registration is None or registration["metadata"].get("deletionTimestamp"):
            return Result()
        cluster = LogicalClusterPath(key.cluster)
        now = self.clock()
        access = await load_cluster_access(self.client, cluster, registration)
        if isinstance(access, CredentialProblem):
            probe = ProbeResult(False, False, "NoCredentials", access.message)
        else:
            probe = await probe_cluster(access, timeout=self.settings.probe_timeout)
        status = self._status(registration, access, probe, now)
        if status != registration.get("status"):
            await self._write_status(cluster, registration, status)
        return Result(requeue_after=self.settings.heartbeat_period)

    def _status(self, registration: JSON, access: object, probe: ProbeResult, now: float) -> dict[str, Any]:
        previous: dict[str, Any] = dict(registration.get("status") or {})
        generation = registration["metadata"].get("generation")
        moment = datetime.fromtimestamp(now, UTC).replace(microsecond=0)
        last_heartbeat = _parse_time(previous.get("lastHeartbeatTime"))
        status: dict[str, Any] = dict(previous)
        if probe.ready:
            status["lastHeartbeatTime"] = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
            status["kubernetesVersion"] = probe.kubernetes_version
            status["apiResources"] = list(probe.api_resources)
            if probe.node_count is not None:
                status["nodeCount"] = probe.node_count
            if probe.allocatable_cpu_millis is not None and probe.allocatable_memory_bytes is not None:
                status["allocatable"] = {
                    "cpu": format_cpu(probe.allocatable_cpu_millis),
                    "memory": format_bytes(probe.allocatable_memory_bytes),
                }
        declared = [
            (str(c["type"]), bool(c.get("available", True)))
            for c in registration.get("spec", {}).get("capabilities", [])
        ]
        discovered = tuple(status.get("apiResources") or ()) if status.get("apiResources") is not None else None
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
        if isinstance(access, CredentialProblem):
            set_condition(conditions, "CredentialsValid", "False", access.reason, access.message, generation, moment)
        elif probe.unauthorized:
            set_condition(conditions, "CredentialsValid", "False", "Unauthorized", probe.message, generation, moment)
        else:
            set_condition(
                conditions,
                "CredentialsValid",
                "True",
                "KubeconfigLoaded",
                "kubeconfig Secret read and parsed",
                generation,
                moment,
            )
        if isinstance(access, CredentialProblem):
            set_condition(
                conditions,
                "Reachable",
                "Unknown",
                "NoCredentials",
                "not probed: no usable credentials",
                generation,
                moment,
            )
        elif probe.reachable:
            set_condition(conditions, "Reachable", "True", "Probed", "the API server answered", generation, moment)
        else:
            set_condition(conditions, "Reachable", "False", probe.reason, probe.message, generation, moment)
        verdict = ready_verdict(
            probe,
            now=now,
            last_heartbeat=last_heartbeat.timestamp() if last_heartbeat else None,
            grace_seconds=self.settings.grace_period,
        )
        set_condition(
            conditions,
            "Ready",
            "True" if verdict.ready else "False",
            verdict.reason,
            verdict.message,
            generation,
            moment,
        )
        status["conditions"] = [c.to_dict() for c in conditions]
        return status

    async def _write_status(self, cluster: LogicalClusterPath, registration: JSON, status: dict[str, Any]) -> None:
        metadata = registration["metadata"]
        try:
            await self.client.merge_patch(
                REGISTRATIONS,
                metadata["name"],
                {"metadata": {"resourceVersion": metadata["resourceVersion"]}, "status": status},
                cluster=cluster,
                subresource="status",
            )
        except (ConflictError, NotFoundError):
            # A newer version (or the deletion) arrives through the informer and is reconciled then.
            log.debug("status write for %s skipped: object changed", metadata["name"])


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
