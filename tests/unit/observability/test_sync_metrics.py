"""The sync engine's metrics: what the latency measures, and that a reconcile counts what it did per cluster."""

from __future__ import annotations

import asyncio
import builtins
import json
from datetime import UTC, datetime
from typing import Any, cast

import httpx
import pytest
from prometheus_client import CollectorRegistry

from tests.unit.runtime.fakes import FakeStatusApi
from tmc.clusters import ClusterUnavailable
from tmc.controllers.sync.clusters import ClusterClients
from tmc.controllers.sync.metrics import BindingCollector, SyncMetrics, last_change
from tmc.controllers.sync.reconcile import SyncReconciler
from tmc.kcp.kubeconfig import ClusterAccess
from tmc.kcp.paths import LogicalClusterPath
from tmc.kcp.rest import KubeClient
from tmc.runtime import Informer, ObjectKey, StatusWriter

JSON = dict[str, Any]
WORKSPACE = "2x7tenant"
T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC).timestamp()


def stamp(seconds_after_t0: float) -> str:
    return datetime.fromtimestamp(T0 + seconds_after_t0, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def managed(*entries: tuple[float, str | None]) -> list[JSON]:
    return [
        {"manager": "m", "operation": "Update", "time": stamp(at), **({"subresource": sub} if sub else {})}
        for at, sub in entries
    ]


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


@pytest.mark.parametrize(
    ("objects", "expected"),
    [
        pytest.param([{"metadata": {"creationTimestamp": stamp(0)}}], 0.0, id="only a creation time: that"),
        pytest.param(
            [{"metadata": {"creationTimestamp": stamp(0), "managedFields": managed((30, None), (90, "status"))}}],
            30.0,
            id="a status write is not a change of what is applied",
        ),
        pytest.param(
            [
                {"metadata": {"creationTimestamp": stamp(0), "managedFields": managed((10, None))}},
                {"metadata": {"creationTimestamp": stamp(0), "managedFields": managed((45, None))}},
                None,
            ],
            45.0,
            id="the newest change across binding, workload and dependencies",
        ),
        pytest.param([None, {"metadata": {}}], None, id="nothing says when: no observation"),
    ],
)
def test_the_last_change_is_the_newest_non_status_write(objects: list[JSON | None], expected: float | None) -> None:
    changed = last_change(objects)
    assert (None if changed is None else changed - T0) == expected


def test_a_clean_apply_observes_the_latency_and_a_drift_correction_or_a_problem_does_not() -> None:
    metrics = SyncMetrics()
    source = {"metadata": {"creationTimestamp": stamp(0), "managedFields": managed((5, None))}}
    metrics.applied("us-west-1", 2, [], [source], now=T0 + 12.5)
    metrics.applied("us-west-1", 1, [], [source], now=T0 + 500, drifted=True)
    metrics.applied("us-west-1", 0, [("Rejected", "no"), ("Rejected", "no")], [source], now=T0 + 900)
    registry = metrics.registry
    assert sample(registry, "tmc_sync_apply_latency_seconds_count") == 1
    assert sample(registry, "tmc_sync_apply_latency_seconds_sum") == 7.5
    assert sample(registry, "tmc_sync_copies_applied_total", cluster="us-west-1") == 3
    assert sample(registry, "tmc_sync_apply_errors_total", cluster="us-west-1", reason="Rejected") == 2


def test_a_kcp_clock_ahead_of_ours_counts_as_zero_not_negative() -> None:
    metrics = SyncMetrics()
    metrics.applied("c", 1, [], [{"metadata": {"creationTimestamp": stamp(60)}}], now=T0)
    assert sample(metrics.registry, "tmc_sync_apply_latency_seconds_sum") == 0.0
    assert sample(metrics.registry, "tmc_sync_apply_latency_seconds_bucket", le="1.0") == 1


# -- a whole reconcile against fakes: the counts come from what really happened on each cluster ---------------


class FakeCache:
    """What the reconciler reads of an ``Informer``: ``get``, ``list``, ``by_index``."""

    def __init__(self, *objects: JSON) -> None:
        self.objects = {
            ObjectKey(WORKSPACE, o["metadata"].get("namespace", ""), o["metadata"]["name"]): o for o in objects
        }

    def get(self, key: ObjectKey) -> JSON | None:
        return self.objects.get(key)

    def list(self, cluster: str | None = None) -> list[JSON]:
        return list(self.objects.values())

    def by_index(self, name: str, value: str) -> builtins.list[JSON]:
        return [o for k, o in self.objects.items() if k.cluster == value]


class Cluster:
    """A physical cluster's API: namespaces are created, applies succeed unless the object's name is refused."""

    def __init__(self, refuse: frozenset[str] = frozenset()) -> None:
        self.refuse = refuse
        self.applied: list[str] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(404, json={"kind": "Status", "code": 404, "reason": "NotFound", "message": "no"})
        body = json.loads(request.content)
        name = body["metadata"]["name"]
        if request.method == "PATCH" and name in self.refuse:
            return httpx.Response(422, json={"kind": "Status", "code": 422, "reason": "Invalid", "message": "bad"})
        self.applied.append(f"{body['kind']}/{name}")
        body["metadata"].update(uid=f"uid-{name}", generation=1)
        return httpx.Response(201 if request.method == "POST" else 200, json=body)


class Clusters:
    def __init__(self, clusters: dict[str, Cluster], down: dict[str, str]) -> None:
        self.clients = {
            name: KubeClient(ClusterAccess(f"https://{name}.example"), transport=httpx.MockTransport(c.handle))
            for name, c in clusters.items()
        }
        self.down = down

    async def client_for(self, cluster: LogicalClusterPath, registration: str) -> KubeClient:
        if registration in self.down:
            raise ClusterUnavailable(self.down[registration], f"{registration} is down")
        return self.clients[registration]

    def limiter(self, cluster: LogicalClusterPath, registration: str) -> asyncio.Semaphore:
        return asyncio.Semaphore(4)


def accept_everything(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={})


def deployment(changed_at: float) -> JSON:
    container = {"name": "c", "image": "nginx", "envFrom": [{"configMapRef": {"name": "settings"}}]}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "default",
            "uid": "w1",
            "generation": 2,
            "resourceVersion": "7",
            "finalizers": ["tmc.kcp.io/sync"],
            "annotations": {"kcp.io/cluster": WORKSPACE},
            "creationTimestamp": stamp(0),
            "managedFields": managed((changed_at, None), (changed_at + 100, "status")),
        },
        "spec": {"replicas": 3, "template": {"spec": {"containers": [container]}}},
    }


def binding(clusters: dict[str, int], changed_at: float) -> JSON:
    return {
        "apiVersion": "tmc.kcp.io/v1alpha1",
        "kind": "WorkloadBinding",
        "metadata": {
            "name": "deployment-web",
            "namespace": "default",
            "uid": "b1",
            "generation": 1,
            "resourceVersion": "3",
            "finalizers": ["tmc.kcp.io/sync"],
            "annotations": {"kcp.io/cluster": WORKSPACE},
            "creationTimestamp": stamp(0),
            "managedFields": managed((changed_at, None)),
        },
        "spec": {
            "workload": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "clusters": [{"name": name, "replicas": replicas} for name, replicas in clusters.items()],
        },
    }


async def test_a_reconcile_counts_applies_errors_and_latency_per_cluster() -> None:
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "settings",
            "namespace": "default",
            "annotations": {"kcp.io/cluster": WORKSPACE},
            "creationTimestamp": stamp(0),
            "managedFields": managed((20, None)),
        },
        "data": {"a": "b"},
    }
    workload = deployment(changed_at=10)
    bound = binding({"good": 2, "refusing": 1, "down": 0}, changed_at=40)  # placement's choice came last
    physical = {"good": Cluster(), "refusing": Cluster(refuse=frozenset({"web"}))}
    metrics = SyncMetrics()
    status = FakeStatusApi(bound, workload)
    reconciler = SyncReconciler(
        KubeClient(ClusterAccess("https://kcp.example"), transport=httpx.MockTransport(accept_everything)),
        cast(Informer, FakeCache(bound)),
        {
            ("apps/v1", "Deployment"): cast(Informer, FakeCache(workload)),
            ("v1", "ConfigMap"): cast(Informer, FakeCache(configmap)),
        },
        cast(ClusterClients, Clusters(physical, down={"down": "HeartbeatMissed"})),
        status=StatusWriter(status, field_manager="test"),
        clock=lambda: T0 + 52.0,
        metrics=metrics,
    )

    await reconciler.reconcile(ObjectKey(WORKSPACE, "default", "deployment-web"))

    registry = metrics.registry
    assert [what.split("/")[0] for what in physical["good"].applied] == ["Namespace", "ConfigMap", "Deployment"]
    assert sample(registry, "tmc_sync_copies_applied_total", cluster="good") == 2  # ConfigMap and Deployment
    assert sample(registry, "tmc_sync_copies_applied_total", cluster="refusing") == 1  # only the ConfigMap
    assert sample(registry, "tmc_sync_apply_errors_total", cluster="refusing", reason="Rejected") == 1
    assert sample(registry, "tmc_sync_apply_errors_total", cluster="down", reason="HeartbeatMissed") == 1
    # One clean cluster, measured from the binding's change (t0+40, newer than workload and ConfigMap) to t0+52.
    assert sample(registry, "tmc_sync_apply_latency_seconds_count") == 1
    assert sample(registry, "tmc_sync_apply_latency_seconds_sum") == 12.0


def test_failing_bindings_are_reported_per_workspace_from_the_cache_only_while_they_fail() -> None:
    def bound(workspace: str, name: str, status: str | None, reason: str = "") -> JSON:
        conditions = [] if status is None else [{"type": "Applied", "status": status, "reason": reason}]
        return {
            "metadata": {"name": name, "namespace": "default", "annotations": {"kcp.io/cluster": workspace}},
            "status": {"conditions": conditions},
        }

    cache = FakeCache(
        bound("acme", "a", "False", "Rejected"),
        bound("acme", "b", "False", "Rejected"),
        bound("acme", "c", "True", "Applied"),
        bound("globex", "d", "False", "Removing"),  # going away: not a failure
        bound("initech", "e", None),
    )
    registry = CollectorRegistry()
    registry.register(BindingCollector(cast(Informer, cache)))
    assert sample(registry, "tmc_sync_bindings", applied="False") == 3
    assert sample(registry, "tmc_sync_bindings", applied="True") == 1
    assert sample(registry, "tmc_sync_bindings", applied="Unknown") == 1
    assert sample(registry, "tmc_sync_bindings_failing", workspace="acme", reason="Rejected") == 2
    failing = [s for m in registry.collect() if m.name == "tmc_sync_bindings_failing" for s in m.samples]
    assert [s.labels["workspace"] for s in failing] == ["acme"]
