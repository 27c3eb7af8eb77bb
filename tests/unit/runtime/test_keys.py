"""ObjectKey: the logical cluster is part of an object's identity."""

from __future__ import annotations

import pytest

from tmc.kcp.paths import LogicalClusterPath
from tmc.runtime import ObjectKey, key_of


@pytest.mark.parametrize(
    ("obj", "key", "text"),
    [
        pytest.param(
            {"metadata": {"name": "web", "namespace": "default", "annotations": {"kcp.io/cluster": "2x8pd3"}}},
            ObjectKey("2x8pd3", "default", "web"),
            "2x8pd3|default/web",
            id="a namespaced object in kcp",
        ),
        pytest.param(
            {"metadata": {"name": "east", "annotations": {"kcp.io/cluster": "2x8pd3"}}},
            ObjectKey("2x8pd3", "", "east"),
            "2x8pd3|east",
            id="a cluster-scoped object in kcp",
        ),
        pytest.param(
            {"metadata": {"name": "web", "namespace": "default"}},
            ObjectKey("", "default", "web"),
            "|default/web",
            id="an object on plain Kubernetes",
        ),
    ],
)
def test_key_of_reads_the_cluster_annotation_and_str_round_trips(
    obj: dict[str, object], key: ObjectKey, text: str
) -> None:
    assert key_of(obj) == key
    assert str(key) == text
    assert ObjectKey.parse(text) == key


def test_the_same_name_in_two_workspaces_is_two_keys() -> None:
    a = key_of({"metadata": {"name": "web", "namespace": "d", "annotations": {"kcp.io/cluster": "a"}}})
    b = key_of({"metadata": {"name": "web", "namespace": "d", "annotations": {"kcp.io/cluster": "b"}}})
    assert a != b
    assert len({a, b}) == 2


def test_cluster_path_is_where_writes_go() -> None:
    assert ObjectKey("2x8pd3", "d", "n").cluster_path == LogicalClusterPath("2x8pd3")
    assert ObjectKey("", "d", "n").cluster_path is None
