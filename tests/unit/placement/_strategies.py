"""Hypothesis strategies for random clusters and policies.

Values are drawn from small pools so that collisions (same region, same taint,
matching selectors) are common: that is where placement logic is interesting.
"""

from __future__ import annotations

from hypothesis import strategies as st

from tmc.placement import (
    LOCATION_LABEL,
    Affinity,
    CapabilityRequirement,
    ClusterCandidate,
    DivisionMode,
    HostedWorkload,
    NumberOfClusters,
    PlacementPolicy,
    PreferredTerm,
    ReplicaDivision,
    SpreadConstraint,
    StaticWeight,
    Strategy,
    Taint,
    TaintEffect,
    Toleration,
    TolerationOperator,
    Weighting,
)

from ._builders import NOW, sel

NAMES = [f"c{i:02d}" for i in range(16)]
LOCATIONS = ["us-west-1", "us-west-2", "us-east-1", "eu-1"]
REGIONS = ["us-west", "us-east", "eu"]
ZONES = ["a", "b", "c"]
CAPABILITIES = ["compute", "storage", "gpu"]
WORKLOAD_KEYS = ["ns/web", "ns/db", "ns/cache"]
WORKLOAD_LABELS = [{"app": "web"}, {"app": "db"}, {"app": "cache", "tier": "fast"}]

TAINTS = [
    Taint("dedicated", "gpu", TaintEffect.NO_SCHEDULE),
    Taint("spot", "", TaintEffect.PREFER_NO_SCHEDULE),
    Taint("maintenance", "", TaintEffect.NO_EXECUTE, NOW - 50),
    Taint("maintenance", "", TaintEffect.NO_EXECUTE, NOW - 500),
    Taint("evict", "", TaintEffect.NO_EXECUTE, None),
]
TOLERATIONS = [
    Toleration("dedicated", TolerationOperator.EQUAL, "gpu"),
    Toleration("spot", TolerationOperator.EXISTS),
    Toleration("maintenance", TolerationOperator.EXISTS, effect=TaintEffect.NO_EXECUTE, toleration_seconds=100),
    Toleration("tmc.kcp.io/not-ready", TolerationOperator.EXISTS, toleration_seconds=60),
    Toleration("tmc.kcp.io/not-ready", TolerationOperator.EXISTS),
]
SELECTORS = [
    sel(),
    sel({"region": "us-west"}),
    sel({"region": "us-east"}),
    sel(None, ("region", "In", ["us-west", "us-east"])),
    sel(None, ("region", "NotIn", ["eu"])),
    sel(None, ("zone", "Exists", [])),
    sel(None, ("zone", "DoesNotExist", [])),
    sel(None, ("size", "Gt", ["2"])),
    sel({LOCATION_LABEL: "us-west-2"}),
    sel({"region": "us-west"}, ("zone", "In", ["a", "b"])),
]
WORKLOAD_SELECTORS = [sel({"app": "db"}), sel(None, ("tier", "Exists", [])), sel({"app": "web"})]


def _maybe(values: list[str]) -> st.SearchStrategy[str | None]:
    return st.one_of(st.none(), st.sampled_from(values))


# Sub-strategies are built once: constructing strategies inside a composite on
# every draw costs more than the code under test.
_CLUSTER_FIELDS = st.tuples(
    _maybe(REGIONS),
    _maybe(ZONES),
    _maybe(["1", "3", "big"]),
    st.sampled_from(LOCATIONS),
    st.frozensets(st.sampled_from(CAPABILITIES)),
    st.integers(0, 4).map(bool),
    st.sampled_from([None, NOW - 10, NOW - 100]),
    st.integers(0, 6).map(lambda n: n == 0),
    st.lists(st.sampled_from(TAINTS), unique=True, max_size=2).map(tuple),
    st.one_of(st.none(), st.integers(0, 64_000)),
    st.one_of(st.none(), st.integers(0, 2**36)),
    st.lists(st.sampled_from(range(len(WORKLOAD_KEYS))), unique=True, max_size=2),
)


def _cluster(name: str, fields: tuple) -> ClusterCandidate:  # type: ignore[type-arg]
    region, zone, size, location, caps, ready, since, cordoned, taints, cpu, memory, hosted = fields
    labels = {k: v for k, v in (("region", region), ("zone", zone), ("size", size)) if v is not None}
    return ClusterCandidate(
        name=name,
        location=location,
        labels=labels,
        effective_capabilities=caps,
        ready=ready,
        not_ready_since=None if ready else since,
        unschedulable=cordoned,
        taints=taints,
        allocatable_cpu_millis=cpu,
        allocatable_memory_bytes=memory,
        hosted_workloads=tuple(HostedWorkload(WORKLOAD_KEYS[i], WORKLOAD_LABELS[i]) for i in hosted),
    )


_NAME_LISTS = {
    (low, high): st.lists(st.sampled_from(NAMES), unique=True, min_size=low, max_size=high)
    for low in (0, 1)
    for high in (12,)
}


@st.composite
def cluster_lists(draw: st.DrawFn, min_size: int = 0, max_size: int = 12) -> list[ClusterCandidate]:
    names = draw(_NAME_LISTS[(min_size, max_size)])
    fields = draw(st.lists(_CLUSTER_FIELDS, min_size=len(names), max_size=len(names)))
    return [_cluster(name, f) for name, f in zip(names, fields, strict=True)]


_SELECTOR = st.sampled_from(SELECTORS)
_SELECTOR_LISTS = st.lists(_SELECTOR, max_size=2).map(tuple)
_WORKLOAD_SELECTOR = st.one_of(st.none(), st.sampled_from(WORKLOAD_SELECTORS))
_POLICY_FIELDS = st.tuples(
    st.sampled_from(list(Strategy)),
    st.integers(1, 3),
    st.one_of(st.none(), st.integers(0, 3)),
    st.sampled_from(list(Weighting)),
    st.tuples(st.sampled_from(NAMES), st.integers(0, 5), _SELECTOR, st.integers(0, 5)),
    _SELECTOR,
    st.lists(st.tuples(st.sampled_from(CAPABILITIES), st.booleans()), unique_by=lambda t: t[0], max_size=2),
    _SELECTOR_LISTS,
    st.lists(st.tuples(st.integers(1, 100), _SELECTOR), max_size=2),
    _WORKLOAD_SELECTOR,
    _WORKLOAD_SELECTOR,
    st.sampled_from([LOCATION_LABEL, "region", "zone", None]),
    st.integers(1, 3),
    _SELECTOR_LISTS,
    st.lists(st.sampled_from(TOLERATIONS), unique=True).map(tuple),
    st.sampled_from(list(DivisionMode)),
)


@st.composite
def policies(
    draw: st.DrawFn,
    strategy: Strategy | None = None,
    mode: DivisionMode | None = None,
    tolerations: bool = True,
    lenient: bool = False,
) -> PlacementPolicy:
    """``lenient`` drops the hard constraints so most draws are schedulable."""
    (
        drawn_strategy,
        low,
        extra,
        weighting,
        (static_name, name_weight, static_selector, selector_weight),
        location,
        capabilities,
        required,
        preferred,
        workload_affinity,
        workload_anti_affinity,
        topology_key,
        max_skew,
        fallback_groups,
        drawn_tolerations,
        drawn_mode,
    ) = draw(_POLICY_FIELDS)
    low = 1 if lenient else low
    static: tuple[StaticWeight, ...] = ()
    if weighting is Weighting.STATIC:
        static = (StaticWeight(static_name, name_weight), StaticWeight(static_selector, selector_weight))
    return PlacementPolicy(
        strategy=strategy or drawn_strategy,
        location_selector=sel() if lenient else location,
        capability_requirements=tuple(CapabilityRequirement(c, r and not lenient) for c, r in capabilities),
        number_of_clusters=NumberOfClusters(low, None if extra is None else low + extra),
        affinity=Affinity(
            required=() if lenient else required,
            preferred=tuple(PreferredTerm(w, s) for w, s in preferred),
            workload_affinity=workload_affinity,
            workload_anti_affinity=None if lenient else workload_anti_affinity,
        ),
        spread=SpreadConstraint(topology_key, max_skew),
        fallback_groups=fallback_groups,
        tolerations=drawn_tolerations if tolerations else (),
        replica_division=ReplicaDivision(mode or drawn_mode, weighting, static),
    )
