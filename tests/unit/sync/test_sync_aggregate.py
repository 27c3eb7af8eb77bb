"""Per-cluster health and the tenant's aggregated status, including the rules rollout status relies on."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tmc.controllers.sync.aggregate import aggregate_status, observe_copy

NOW = "2026-11-26T00:00:00Z"


def deployment(generation: int = 3, replicas: int = 7, status: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "generation": generation},
        "spec": {"replicas": replicas},
        "status": status or {},
    }


def entry(
    name: str, ready: int, *, generation: int = 3, health: str = "Healthy", applied: bool = True
) -> dict[str, Any]:
    return {
        "name": name,
        "applied": applied,
        "sourceGeneration": generation,
        "health": health,
        "replicas": ready,
        "readyReplicas": ready,
        "updatedReplicas": ready,
        "availableReplicas": ready,
        "appliedGeneration": 5,
        "observedGeneration": 5,
    }


def test_counts_are_summed_and_generation_advances_when_every_cluster_caught_up() -> None:
    status = aggregate_status("Deployment", deployment(), [entry("a", 4), entry("b", 3)], {"a": 4, "b": 3}, {}, NOW)

    assert status is not None
    assert (status["replicas"], status["readyReplicas"], status["availableReplicas"]) == (7, 7, 7)
    assert status["observedGeneration"] == 3
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Available"]["status"] == "True"
    assert conditions["Progressing"]["reason"] == "NewReplicaSetAvailable"


def test_a_cluster_behind_the_current_generation_holds_observed_generation_back() -> None:
    workload = deployment(generation=4, status={"observedGeneration": 3})
    status = aggregate_status(
        "Deployment", workload, [entry("a", 4, generation=4), entry("b", 3, generation=3)], {"a": 4, "b": 3}, {}, NOW
    )

    assert status is not None
    assert status["observedGeneration"] == 3, "rollout status must keep waiting for cluster b"


def test_a_copy_whose_controller_has_not_observed_the_apply_holds_observed_generation_back() -> None:
    lagging = {**entry("b", 3), "appliedGeneration": 6, "observedGeneration": 5}
    status = aggregate_status(
        "Deployment", deployment(status={"observedGeneration": 2}), [entry("a", 4), lagging], {"a": 4, "b": 3}, {}, NOW
    )

    assert status is not None
    assert status["observedGeneration"] == 2


def test_a_lost_cluster_counts_for_nothing_and_makes_the_workload_unavailable() -> None:
    status = aggregate_status(
        "Deployment",
        deployment(),
        [entry("a", 4), entry("b", 3, health="Unknown", applied=False)],
        {"a": 4, "b": 3},
        {},
        NOW,
    )

    assert status is not None
    assert status["readyReplicas"] == 4
    assert status["unavailableReplicas"] == 3
    available = next(c for c in status["conditions"] if c["type"] == "Available")
    assert available["status"] == "False"
    assert available["reason"] == "ClustersUnavailable"
    assert "b" in available["message"]


def test_with_one_cluster_the_copy_status_passes_through_with_the_tenant_generation() -> None:
    copy = {"metadata": {"generation": 9}, "status": {"observedGeneration": 9, "readyReplicas": 2, "replicas": 2}}
    status = aggregate_status("Deployment", deployment(replicas=2), [entry("a", 2)], {"a": 2}, {"a": copy}, NOW)

    assert status == {"readyReplicas": 2, "replicas": 2, "observedGeneration": 3}


def test_jobs_sum_pod_counts_and_services_list_every_balancer() -> None:
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"generation": 1}, "spec": {}, "status": {}}
    entries = [
        {"name": "a", "health": "Healthy", "active": 1, "succeeded": 2, "failed": 0},
        {"name": "b", "health": "Healthy", "active": 0, "succeeded": 3, "failed": 1},
    ]
    assert aggregate_status("Job", job, entries, {"a": None, "b": None}, {}, NOW) == {
        "active": 1,
        "succeeded": 5,
        "failed": 1,
    }
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"generation": 1}, "spec": {}, "status": {}}
    lbs = [
        {"name": "a", "health": "Healthy", "loadBalancerIngress": ["10.0.0.1"]},
        {"name": "b", "health": "Healthy", "loadBalancerIngress": ["lb.example.com"]},
    ]
    assert aggregate_status("Service", service, lbs, {"a": None, "b": None}, {}, NOW) == {
        "loadBalancer": {"ingress": [{"ip": "10.0.0.1"}, {"hostname": "lb.example.com"}]}
    }


def test_health_of_a_deployment_copy() -> None:
    def copy(generation: int, observed: int, available: int, updated: int, reason: str = "") -> dict[str, Any]:
        conditions = [{"type": "Progressing", "status": "False", "reason": reason}] if reason else []
        status = {"observedGeneration": observed, "availableReplicas": available, "updatedReplicas": updated}
        return {
            "metadata": {"generation": generation},
            "spec": {"replicas": 3},
            "status": {**status, "conditions": conditions},
        }

    assert observe_copy("Deployment", copy(2, 2, 3, 3), 3)["health"] == "Healthy"
    assert observe_copy("Deployment", copy(3, 2, 3, 3), 3)["health"] == "Progressing"
    assert observe_copy("Deployment", copy(2, 2, 1, 3), 3)["health"] == "Progressing"
    assert observe_copy("Deployment", copy(2, 2, 1, 1, "ProgressDeadlineExceeded"), 3)["health"] == "Unhealthy"
    assert observe_copy("Deployment", None, 3) == {"health": "Unknown"}


cluster_entries = st.lists(
    st.tuples(
        st.integers(0, 20),
        st.sampled_from(["Healthy", "Progressing", "Unhealthy", "Unknown"]),
        st.integers(1, 5),
        st.booleans(),
    ),
    min_size=1,
    max_size=6,
)


@given(cluster_entries, st.integers(1, 5))
def test_aggregation_never_counts_unknown_clusters_and_never_claims_an_unobserved_generation(
    clusters: list[tuple[int, str, int, bool]], generation: int
) -> None:
    entries = [
        {**entry(f"c{i}", ready, generation=source, health=health, applied=applied)}
        for i, (ready, health, source, applied) in enumerate(clusters)
    ]
    wanted = {e["name"]: e["readyReplicas"] for e in entries}
    workload = deployment(generation=generation, replicas=sum(wanted.values()), status={"observedGeneration": 0})
    status = aggregate_status("Deployment", workload, entries, wanted, {}, NOW)

    assert status is not None
    counted = [e for e in entries if e["health"] != "Unknown"]
    assert status["readyReplicas"] == sum(e["readyReplicas"] for e in counted)
    everyone_current = all(
        e["applied"] and e["sourceGeneration"] == generation and e["health"] != "Unknown" for e in entries
    )
    assert status["observedGeneration"] == (generation if everyone_current else 0)
    if any(e["health"] == "Unknown" for e in entries):
        available = next(c for c in status["conditions"] if c["type"] == "Available")
        assert available["status"] == "False"
