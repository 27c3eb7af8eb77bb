"""``tmc status``'s verdicts from stored objects: who leads by the Lease, and what the controllers still owe."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tmc.cli.status import lag_lines, lease_verdict

from .fixtures import binding, copy, placement, registration

NOW = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)


def lease(holder: str, renewed_ago: float | None, duration: int = 15) -> dict[str, Any]:
    spec: dict[str, Any] = {"holderIdentity": holder, "leaseDurationSeconds": duration, "leaseTransitions": 2}
    if renewed_ago is not None:
        spec["renewTime"] = (NOW - timedelta(seconds=renewed_ago)).isoformat().replace("+00:00", "Z")
    return {"metadata": {"name": "tmc-controllers"}, "spec": spec}


@pytest.mark.parametrize(
    ("stored", "leading", "needle"),
    [
        pytest.param(lease("host_a1", 1.5), True, "host_a1 is leading (renewed 1.5s ago", id="renewed recently"),
        pytest.param(lease("host_a1", 40), False, "held the Lease but renewed 40.0s ago", id="renewal too old"),
        pytest.param(lease("", 3), False, "released", id="released on a clean stop"),
        pytest.param(None, False, "never run", id="no Lease at all"),
        pytest.param(lease("host_a1", None), False, "never renewed", id="no renew time"),
    ],
)
def test_the_lease_says_who_leads(stored: dict[str, Any] | None, leading: bool, needle: str) -> None:
    got_leading, text = lease_verdict(stored, NOW)
    assert got_leading is leading
    assert needle in text


def test_lag_counts_what_the_controllers_have_not_processed_yet() -> None:
    registrations = [registration("a"), registration("b", ready=("False", "HeartbeatMissed"))]
    behind = placement("p2")
    behind["metadata"]["generation"] = 2
    placements = [placement("p1"), behind]  # p1 observed its generation (1), p2 not
    for p in placements:
        p["status"]["observedGeneration"] = 1
    bindings = [
        binding("web", {"a": 1, "b": 1}, [copy("a", ready=1), copy("b", ready=0, applied=False, reason="Unreachable")]),
        binding("api", {"a": 1}, [], generation=3, observed=2),
    ]
    assert lag_lines(registrations, placements, bindings) == [
        "clusters:   1/2 Ready",
        "placements: 1 of 2 waiting for the placement controller",
        "workloads:  1 of 2 waiting for the sync engine, 2 copies not applied",
    ]
