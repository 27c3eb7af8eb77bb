from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tmc.placement.division import balance, largest_remainder, skew

from ._builders import cluster, policy, run


@pytest.mark.parametrize(
    ("total", "weights", "expected"),
    [
        pytest.param(7, [1, 1, 1], [3, 2, 2], id="even split gives the leftover to the first by name"),
        pytest.param(0, [1, 2], [0, 0], id="zero replicas give zero everywhere"),
        pytest.param(10, [1, 3], [3, 7], id="proportional when it divides"),
        pytest.param(10, [1, 1, 1, 3], [2, 2, 1, 5], id="leftovers go to the largest remainders"),
        pytest.param(5, [0, 0], [3, 2], id="all-zero weights fall back to even"),
        pytest.param(5, [0, 2], [0, 5], id="a zero weight gets nothing"),
        pytest.param(1, [2, 2, 1], [1, 0, 0], id="equal remainders break ties by position"),
    ],
)
def test_largest_remainder(total: int, weights: list[int], expected: list[int]) -> None:
    assert largest_remainder(total, weights) == expected


@settings(deadline=None)
@given(st.integers(0, 1000), st.lists(st.integers(0, 10_000), min_size=1, max_size=20))
def test_largest_remainder_is_exact_and_within_one_of_the_ideal(total: int, weights: list[int]) -> None:
    shares = largest_remainder(total, weights)
    assert sum(shares) == total
    weight_sum = sum(weights) or len(weights)
    effective = weights if sum(weights) else [1] * len(weights)
    for share, weight in zip(shares, effective, strict=True):
        assert abs(share * weight_sum - total * weight) < weight_sum


@pytest.mark.parametrize(
    ("counts", "max_skew", "expected"),
    [
        pytest.param([9, 1], 2, [6, 4], id="pulls a lopsided split within the skew"),
        pytest.param([5, 4], 1, [5, 4], id="leaves a split that is already within bounds"),
        pytest.param([10, 0, 0], 1, [4, 3, 3], id="raises empty domains first"),
        pytest.param([7, 7, 0], 3, [6, 5, 3], id="keeps the order of the original split"),
    ],
)
def test_balance(counts: list[int], max_skew: int, expected: list[int]) -> None:
    assert balance(counts, max_skew) == expected


@settings(deadline=None)
@given(st.lists(st.integers(0, 200), min_size=1, max_size=12), st.integers(1, 5))
def test_balance_keeps_the_total_and_bounds_the_skew(counts: list[int], max_skew: int) -> None:
    out = balance(counts, max_skew)
    assert sum(out) == sum(counts)
    assert skew(out) <= max_skew
    if skew(counts) <= max_skew:
        assert out == counts


@pytest.mark.parametrize(
    ("weighting", "expected"),
    [
        pytest.param("Even", {"a": 4, "b": 3, "c": 3}, id="Even"),
        pytest.param("Capacity", {"a": 1, "b": 3, "c": 6}, id="Capacity uses allocatable cpu"),
        pytest.param("Static", {"a": 0, "b": 2, "c": 8}, id="Static uses the first matching rule"),
    ],
)
def test_divided_weightings(weighting: str, expected: dict[str, int]) -> None:
    from tmc.placement import ReplicaDivision, StaticWeight

    from ._builders import sel

    clusters = [
        cluster("a", cpu=1000),
        cluster("b", cpu=3000, labels={"tier": "gold"}),
        cluster("c", cpu=6000, labels={"tier": "gold"}),
    ]
    rules = (StaticWeight("c", 4), StaticWeight(sel({"tier": "gold"}), 1))
    division = ReplicaDivision(weighting=weighting, static_weights=rules if weighting == "Static" else ())  # type: ignore[arg-type]
    result = run(clusters, policy("Affinity", min_clusters=3, replica_division=division), replicas=10)
    assert result.replicas_by_cluster == expected


def test_capacity_weighting_treats_unreported_clusters_as_average_and_all_unreported_as_even() -> None:
    from tmc.placement import ReplicaDivision, Weighting

    division = ReplicaDivision(weighting=Weighting.CAPACITY)
    partial = [cluster("a", cpu=1000), cluster("b", cpu=3000), cluster("c")]
    result = run(partial, policy("Spread", replica_division=division, spread=_per_cluster()), replicas=12)
    assert result.replicas_by_cluster == {"a": 2, "b": 6, "c": 4}  # c weighs (1000+3000)/2
    none = [cluster("a"), cluster("b")]
    assert run(none, policy("Spread", replica_division=division), replicas=3).replicas_by_cluster == {
        "a": 2,
        "b": 1,
    }


def test_duplicated_gives_every_cluster_all_replicas() -> None:
    from tmc.placement import DivisionMode, ReplicaDivision

    result = run(
        [cluster("a"), cluster("b")],
        policy("Spread", replica_division=ReplicaDivision(DivisionMode.DUPLICATED)),
        4,
    )
    assert result.decision == (("a", 4), ("b", 4))


def _per_cluster() -> object:
    from tmc.placement import SpreadConstraint

    return SpreadConstraint(None, max_skew=10)
