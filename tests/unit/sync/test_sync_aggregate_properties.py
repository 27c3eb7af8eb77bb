"""Properties of the status aggregation for any binding entries, copies and earlier status a binding can hold.

``aggregate_status`` runs on every sync of every binding, with entries read back from the binding's status (which
the tenant can write, within the schema) and copies as the clusters report them. It must never raise, must count
only what it may count, and must be a fixpoint: aggregating again over its own output changes nothing, so an
unchanged world causes no status write.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tmc.controllers.sync.aggregate import JOB_FIELDS, REPLICA_FIELDS, aggregate_status, counts, observe_copy

JSON = dict[str, Any]
PROPERTIES = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NOW = "2026-11-26T00:00:00Z"
LATER = "2026-11-26T00:05:00Z"
KINDS = ["Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Service", "Ingress", "PersistentVolumeClaim"]
HEALTH = ["Healthy", "Progressing", "Unhealthy", "Unknown"]
CLUSTERS = ["a", "b", "c", "d"]
ADDRESSES = ["10.0.0.1", "10.0.0.2", "2001:db8::1", "lb.example.com", "a.example.com", ""]

_count = st.one_of(st.none(), st.integers(0, 2**31 - 1))
_small = st.one_of(st.none(), st.integers(0, 6))


@st.composite
def entries(draw: st.DrawFn) -> list[JSON]:
    """Binding status entries as the schema (ClusterCopyStatus) allows them: any subset of fields."""
    out = []
    for name in draw(st.lists(st.sampled_from(CLUSTERS), unique=True, max_size=4)):
        entry: JSON = {"name": name}
        optional = {
            "applied": st.booleans(),
            "health": st.sampled_from(HEALTH),
            "sourceGeneration": _small,
            "appliedGeneration": _small,
            "observedGeneration": _small,
            "active": _count,
            "succeeded": _count,
            "failed": _count,
            "loadBalancerIngress": st.lists(st.sampled_from(ADDRESSES), max_size=3),
            **dict.fromkeys(REPLICA_FIELDS, _count),
        }
        for field, strategy in optional.items():
            if draw(st.booleans()):
                value = draw(strategy)
                if value is not None:
                    entry[field] = value
        out.append(entry)
    return out


_condition = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["Available", "Progressing", "ReplicaFailure"]),
        "status": st.sampled_from(["True", "False", "Unknown"]),
        "reason": st.sampled_from(["MinimumReplicasAvailable", "ClustersUnavailable", "NewReplicaSetAvailable"]),
        "message": st.sampled_from(["", "2/2 available across clusters"]),
        "lastTransitionTime": st.just("2026-01-01T00:00:00Z"),
        "lastUpdateTime": st.just("2026-01-01T00:00:00Z"),
    }
)
_old_status = st.fixed_dictionaries(
    {},
    optional={
        "observedGeneration": st.integers(0, 6),
        "conditions": st.lists(_condition, unique_by=lambda c: c["type"], max_size=3),
        "replicas": st.integers(0, 9),
        "loadBalancer": st.just({"ingress": [{"ip": "10.9.9.9"}]}),
        "active": st.integers(0, 3),
        "startTime": st.just("2026-01-01T00:00:00Z"),
    },
)
_copy = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {"metadata": st.fixed_dictionaries({}, optional={"generation": st.integers(1, 6)})},
        optional={
            "spec": st.fixed_dictionaries({}, optional={"replicas": st.integers(0, 9)}),
            "status": st.fixed_dictionaries(
                {},
                optional={
                    "observedGeneration": st.integers(0, 6),
                    "readyReplicas": st.integers(0, 9),
                    "replicas": st.integers(0, 9),
                    "updatedReplicas": st.integers(0, 9),
                    "availableReplicas": st.integers(0, 9),
                    "currentRevision": st.just("web-1"),
                    "conditions": st.lists(_condition, unique_by=lambda c: c["type"], max_size=2),
                },
            ),
        },
    ),
)


@st.composite
def worlds(draw: st.DrawFn, kinds: list[str] = KINDS) -> tuple[str, JSON, list[JSON], dict[str, int | None], JSON]:
    kind = draw(st.sampled_from(kinds))
    spec = draw(st.fixed_dictionaries({}, optional={"replicas": st.integers(0, 2**31 - 1)}))
    workload = {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": "web", "generation": draw(st.integers(1, 6))},
        "spec": spec,
        "status": draw(_old_status),
    }
    cluster_entries = draw(entries())
    wanted = {name: draw(_small) for name in draw(st.lists(st.sampled_from(CLUSTERS), unique=True, max_size=4))}
    copies = {name: draw(_copy) for name in wanted}
    return kind, workload, cluster_entries, wanted, copies


@PROPERTIES
@given(worlds())
def test_aggregation_never_raises_and_is_a_fixpoint(world: tuple[str, JSON, list[JSON], dict[str, Any], JSON]) -> None:
    kind, workload, cluster_entries, wanted, copies = world
    status = aggregate_status(kind, workload, cluster_entries, wanted, copies, NOW)
    if status is None:
        return
    again = aggregate_status(kind, {**workload, "status": status}, cluster_entries, wanted, copies, LATER)
    assert again == status, "an unchanged world must not rewrite status (nor move its condition times)"


@PROPERTIES
@given(worlds(["Deployment", "StatefulSet"]))
def test_replica_counts_are_the_sums_over_live_chosen_clusters_and_generation_is_never_claimed_early(
    world: tuple[str, JSON, list[JSON], dict[str, Any], JSON],
) -> None:
    kind, workload, cluster_entries, wanted, copies = world
    status = aggregate_status(kind, workload, cluster_entries, wanted, copies, NOW)
    assert status is not None
    by_name = {e["name"]: e for e in cluster_entries if e["name"] in wanted}
    live = [by_name[n] for n in wanted if n in by_name and counts(by_name[n])]
    lost = [n for n in wanted if n not in by_name or not counts(by_name[n])]
    generation, old = workload["metadata"]["generation"], workload["status"].get("observedGeneration")
    caught_up = bool(wanted) and all(
        n in by_name
        and by_name[n].get("applied")
        and by_name[n].get("sourceGeneration") == generation
        and counts(by_name[n])
        and (
            by_name[n].get("appliedGeneration") is None
            or by_name[n].get("observedGeneration", -1) >= by_name[n]["appliedGeneration"]
        )
        for n in wanted
    )
    assert status.get("observedGeneration") == (generation if caught_up else old)
    passed_through = len(wanted) == 1 and not lost and (copies.get(next(iter(wanted))) or {}).get("status") is not None
    if passed_through:
        return  # one cluster: its copy's own status, under the tenant's generation
    for field in REPLICA_FIELDS:
        assert status[field] == sum(int(e.get(field) or 0) for e in live), field
    conditions = {c["type"]: c for c in status["conditions"]}
    assert sorted(conditions) == ["Available", "Progressing"]
    desired = int(workload["spec"].get("replicas", 1))
    if kind == "Deployment":
        assert status["unavailableReplicas"] == max(0, desired - status["availableReplicas"])
    available = not lost and status["availableReplicas"] >= desired
    assert (conditions["Available"]["status"] == "True") is available
    if lost:
        assert all(name in conditions["Available"]["message"] for name in lost)


@PROPERTIES
@given(worlds(["Job"]))
def test_jobs_sum_pod_counts_over_live_chosen_clusters_and_keep_their_other_status(
    world: tuple[str, JSON, list[JSON], dict[str, Any], JSON],
) -> None:
    kind, workload, cluster_entries, wanted, copies = world
    status = aggregate_status(kind, workload, cluster_entries, wanted, copies, NOW)
    assert status is not None
    live = [e for e in cluster_entries if e["name"] in wanted and counts(e)]
    for field in JOB_FIELDS:
        assert status[field] == sum(int(e.get(field) or 0) for e in live)
    for field, value in workload["status"].items():
        if field not in JOB_FIELDS:
            assert status[field] == value


@PROPERTIES
@given(worlds(["Service"]))
def test_a_service_lists_each_live_balancer_address_once_as_an_ip_or_a_hostname(
    world: tuple[str, JSON, list[JSON], dict[str, Any], JSON],
) -> None:
    kind, workload, cluster_entries, wanted, copies = world
    status = aggregate_status(kind, workload, cluster_entries, wanted, copies, NOW)
    assert status is not None
    live = [e for e in cluster_entries if e["name"] in wanted and counts(e)]
    expected = sorted({a for e in live for a in e.get("loadBalancerIngress", []) if a})
    ingress = status["loadBalancer"].get("ingress", [])
    assert [i.get("ip") or i.get("hostname") for i in ingress] == expected
    for item in ingress:
        if "ip" in item:
            ipaddress.ip_address(item["ip"])
        else:
            assert not _is_ip(item["hostname"])


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


@PROPERTIES
@given(st.sampled_from(KINDS), _copy, st.one_of(st.none(), st.integers(0, 9)))
def test_a_copys_state_is_always_one_health_and_non_negative_counts(
    kind: str, copy: JSON | None, want: int | None
) -> None:
    observed = observe_copy(kind, copy, want)
    assert observed["health"] in HEALTH
    assert (observed["health"] == "Unknown") is (copy is None)
    for field in (*REPLICA_FIELDS, *JOB_FIELDS):
        if field in observed:
            assert isinstance(observed[field], int)
            assert observed[field] >= 0
