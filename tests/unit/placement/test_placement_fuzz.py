"""Fuzzing the placement path from what tenants write: ClusterRegistrations, a WorkloadPlacement and workloads as
JSON (schema-valid, as kcp would store them), through ``convert`` into the engine, out as binding specs.

The controller turns a ``ValueError`` from ``policy_of`` into the condition ``InvalidPolicy``; anything else that
escapes is a traceback on every reconcile of the tenant's placements. So the properties are: nothing but that
``ValueError`` escapes, and every decision is one kcp would accept and the tenant asked for.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tmc.api import WorkloadBindingSpec, summarize_clusters
from tmc.controllers.workloadplacement.bindings import DesiredBinding
from tmc.controllers.workloadplacement.convert import candidate_of, policy_of, workload_key, workload_of
from tmc.placement import (
    NOT_READY_TAINT_KEY,
    CandidateSet,
    DecisionContext,
    DivisionMode,
    PlacementStatus,
    decide,
    decide_many,
)

from ._builders import NOW

JSON = dict[str, Any]
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
INT32_MAX = 2**31 - 1
# RFC 3339 as the schema (format date-time) lets anyone write it, not only as TMC writes it.
STAMPS = ["2026-11-26T00:00:00Z", "2026-11-26T00:00:00.25Z", "2026-11-26T01:00:00+01:00", "1970-01-01T00:00:00Z"]

NAMES = [f"c{i}" for i in range(8)]
LABEL_KEYS = ["region", "zone", "example.com/tier", "tmc.kcp.io/location", "size"]
LABEL_VALUES = ["us-west", "us-east", "a", "b", "", "1", "3", "x" * 63, "big"]
QUANTITIES = ["0", "1", "4", "500m", "1.5", "16Gi", "128974848", "1e3", "2Ki", "-1", "1e30", "0.0001"]
TAINT_KEYS = ["dedicated", "spot", NOT_READY_TAINT_KEY, "example.com/maintenance"]
EFFECTS = ["NoSchedule", "PreferNoSchedule", "NoExecute"]
CAPABILITIES = ["compute", "storage", "gpu"]
OPERATORS = ["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]


def _maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


def _without_none(**fields: Any) -> JSON:
    return {k: v for k, v in fields.items() if v is not None}


_labels = st.dictionaries(st.sampled_from(LABEL_KEYS), st.sampled_from(LABEL_VALUES), max_size=3)
_requirement = st.builds(
    lambda key, operator, values: _without_none(key=key, operator=operator, values=values),
    st.sampled_from(LABEL_KEYS),
    st.sampled_from(OPERATORS),
    _maybe(st.lists(st.sampled_from([*LABEL_VALUES, "2", "abc"]), max_size=3)),
)
_selector = st.builds(
    lambda labels, expressions: _without_none(matchLabels=labels or None, matchExpressions=expressions or None),
    _labels,
    st.lists(_requirement, max_size=2),
)


@st.composite
def registrations(draw: st.DrawFn) -> list[JSON]:
    out = []
    for name in draw(st.lists(st.sampled_from(NAMES), unique=True, max_size=6)):
        ready = draw(st.sampled_from(["True", "False", "Unknown", None]))
        stamp = draw(st.sampled_from(STAMPS))
        conditions = [] if ready is None else [{"type": "Ready", "status": ready, "lastTransitionTime": stamp}]
        taints = draw(
            st.lists(
                st.builds(
                    lambda k, v, e: _without_none(key=k, value=v, effect=e),
                    st.sampled_from(TAINT_KEYS),
                    _maybe(st.sampled_from(["gpu", ""])),
                    st.sampled_from(EFFECTS),
                ),
                max_size=2,
            )
        )
        capabilities = draw(st.lists(st.sampled_from(CAPABILITIES), unique=True, max_size=3))
        allocatable = draw(
            st.builds(
                lambda c, m: _without_none(cpu=c, memory=m),
                _maybe(st.sampled_from(QUANTITIES)),
                _maybe(st.sampled_from(QUANTITIES)),
            )
        )
        out.append(
            {
                "metadata": {"name": name, "labels": draw(_labels)},
                "spec": {
                    "location": draw(st.sampled_from(["us-west-1", "us-west-2", "eu-1"])),
                    "unschedulable": draw(st.booleans()),
                    "taints": taints,
                    "capabilities": [{"type": c, "available": True} for c in capabilities],
                },
                "status": {
                    "conditions": conditions,
                    "capabilities": [
                        {"type": c, "available": draw(st.booleans())} for c in draw(st.permutations(capabilities))
                    ],
                    "allocatable": allocatable,
                },
            }
        )
    return out


_toleration = st.builds(
    lambda key, operator, value, effect, seconds: _without_none(
        key=key, operator=operator, value=value, effect=effect, tolerationSeconds=seconds
    ),
    _maybe(st.sampled_from(TAINT_KEYS)),
    _maybe(st.sampled_from(["Equal", "Exists"])),
    _maybe(st.sampled_from(["gpu", ""])),
    _maybe(st.sampled_from(EFFECTS)),
    _maybe(st.integers(0, 120)),
)


@st.composite
def placement_specs(draw: st.DrawFn) -> JSON:
    strategy = draw(st.sampled_from(["RoundRobin", "Affinity", "Spread"]))
    low = draw(st.integers(1, 3))
    counts = _without_none(min=low, max=draw(_maybe(st.integers(low - 1, low + 3))))
    weighting = draw(st.sampled_from(["Even", "Static", "Capacity"]))
    mode = draw(st.sampled_from(["Divided", "Duplicated"]))
    division: JSON = {"mode": mode, "weighting": weighting}
    if weighting == "Static":
        division["staticWeights"] = draw(
            st.lists(
                st.one_of(
                    st.builds(
                        lambda n, w: {"clusterName": n, "weight": w},
                        st.sampled_from([*NAMES, "elsewhere"]),
                        st.integers(1, 1000),
                    ),
                    st.builds(lambda s, w: {"clusterSelector": s, "weight": w}, _selector, st.integers(1, 1000)),
                ),
                min_size=1,
                max_size=3,
            )
        )
    spec: JSON = {
        "strategy": strategy,
        "numberOfClusters": counts,
        "replicaDivision": division,
        "capabilityRequirements": [
            {"type": c, "required": r}
            for c, r in draw(
                st.lists(st.tuples(st.sampled_from(CAPABILITIES), st.booleans()), unique_by=lambda t: t[0], max_size=2)
            )
        ],
        "tolerations": draw(st.lists(_toleration, max_size=2)),
        "fallbackGroups": [{"locationSelector": s} for s in draw(st.lists(_selector, max_size=2))],
        "rebalance": draw(st.sampled_from(["Never", "OnClusterChange"])),
        "purgeMode": draw(st.sampled_from(["Graceful", "Immediately", "Never"])),
    }
    location = draw(_maybe(_selector))
    if location is not None:
        spec["locationSelector"] = location
    if strategy == "Affinity":
        spec["affinity"] = _without_none(
            required=draw(st.lists(_selector, max_size=2)),
            preferred=[
                {"weight": w, "selector": s}
                for w, s in draw(st.lists(st.tuples(st.integers(1, 100), _selector), max_size=2))
            ],
            workloadAffinity=draw(_maybe(_selector)),
            workloadAntiAffinity=draw(_maybe(_selector)),
        )
    if strategy == "Spread" and draw(st.booleans()):
        spec["spread"] = {
            "topologyKey": draw(st.sampled_from(["region", "zone", "tmc.kcp.io/location"])),
            "maxSkew": draw(st.integers(1, 3)),
        }
    return spec


def _workloads(replicas: st.SearchStrategy[int]) -> st.SearchStrategy[list[JSON]]:
    return st.lists(
        st.builds(
            lambda name, count, labels: {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": name, "namespace": "default", "labels": labels},
                "spec": {"replicas": count},
            },
            st.sampled_from(["web", "db", "cache", "w" * 253]),
            replicas,
            _labels,
        ),
        unique_by=lambda w: w["metadata"]["name"],
        min_size=1,
        max_size=3,
    )


_REPLICAS = st.one_of(st.integers(0, 20), st.sampled_from([INT32_MAX, INT32_MAX - 1, 10**6]))


def _placeable(registration: JSON, tolerates_not_ready: bool) -> bool:
    ready = any(c["type"] == "Ready" and c["status"] == "True" for c in registration["status"]["conditions"])
    return (ready or tolerates_not_ready) and not registration["spec"]["unschedulable"]


@FUZZ
@given(registrations(), placement_specs(), _workloads(_REPLICAS), st.integers(0, 10))
def test_anything_a_tenant_can_store_is_placed_within_what_it_asked_for_or_refused_as_an_invalid_policy(
    clusters: list[JSON], spec: JSON, workloads: list[JSON], cursor: int
) -> None:
    try:
        policy = policy_of({"spec": spec})
    except ValueError:
        return  # the controller's InvalidPolicy condition, naming the field
    candidates = CandidateSet([candidate_of(r) for r in clusters])
    batch = decide_many(candidates, policy, [workload_of(w) for w in workloads], {}, DecisionContext(NOW, cursor))
    by_name = {r["metadata"]["name"]: r for r in clusters}
    tolerates_not_ready = any(t.get("key") in (None, NOT_READY_TAINT_KEY) for t in spec["tolerations"])
    chosen: set[str] = set()
    for workload in workloads:
        result = batch.results[workload_key(workload)]
        replicas = workload["spec"]["replicas"]
        names = [name for name, _ in result.decision]
        chosen.update(names)
        assert len(names) == len(set(names))
        for name, count in result.decision:
            assert _placeable(by_name[name], tolerates_not_ready), (name, by_name[name])
            assert 0 <= count <= replicas
        if result.status is PlacementStatus.SCHEDULED:
            assert len(names) >= spec["numberOfClusters"]["min"]
            if policy.replica_division.mode is DivisionMode.DIVIDED:
                assert sum(count for _, count in result.decision) == replicas
        else:
            assert result.decision == ()
            assert result.message
        # What the controller writes from it is a binding kcp accepts.
        binding = DesiredBinding(workload, result.decision, result.fallback_group, spec["purgeMode"])
        WorkloadBindingSpec.model_validate(binding.spec("placement"))
    assert len(summarize_clusters(sorted(chosen))) <= 256


@FUZZ
@given(registrations(), placement_specs(), _workloads(_REPLICAS), st.integers(0, 10))
def test_a_decision_is_a_fixpoint_deciding_again_from_it_changes_nothing(
    clusters: list[JSON], spec: JSON, workloads: list[JSON], cursor: int
) -> None:
    """Sticky placements feed each decision back as the previous one: a second reconcile must not move anything."""
    try:
        policy = policy_of({"spec": spec})
    except ValueError:
        return
    candidates = CandidateSet([candidate_of(r) for r in clusters])
    for workload in workloads:
        first = decide(candidates, policy, workload_of(workload), None, DecisionContext(NOW, cursor))
        again = decide(candidates, policy, workload_of(workload), None, DecisionContext(NOW, cursor))
        assert first == again
        if first.status is not PlacementStatus.SCHEDULED:
            continue
        kept = decide(candidates, policy, workload_of(workload), first.decision, DecisionContext(NOW, cursor))
        assert kept.decision == first.decision
