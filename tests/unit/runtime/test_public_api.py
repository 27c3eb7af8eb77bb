"""Guards the curated surface of ``tmc.runtime``: removing or renaming a name here is a breaking change."""

from __future__ import annotations

import tmc.runtime


def test_public_names_are_exactly_the_curated_ones() -> None:
    assert sorted(tmc.runtime.__all__) == [
        "BY_CLUSTER",
        "CLUSTER_ANNOTATION",
        "Clock",
        "Controller",
        "EndpointSet",
        "EventHandler",
        "ExponentialBackoff",
        "HealthServer",
        "Informer",
        "LeaderElector",
        "LeadershipLostError",
        "LeaseClient",
        "ListWatchClient",
        "Manager",
        "ObjectKey",
        "Reconciler",
        "Result",
        "RuntimeMetrics",
        "SYSTEM_CLOCK",
        "StatusWriter",
        "WorkQueue",
        "current_context",
        "default_identity",
        "get_logger",
        "install_signal_handlers",
        "key_of",
    ]
    for name in tmc.runtime.__all__:
        assert getattr(tmc.runtime, name) is not None
