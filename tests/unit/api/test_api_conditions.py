"""Condition helpers keep Kubernetes semantics: lastTransitionTime moves only when status changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from tmc.api import Condition, find_condition, is_true, remove_condition, set_condition

T0 = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)


def test_setting_a_new_condition_appends_it_with_the_transition_time() -> None:
    conditions: list[Condition] = []

    changed = set_condition(conditions, "Ready", "True", "Heartbeat", "ok", observed_generation=3, now=T0)

    assert changed
    assert conditions == [
        Condition(
            type="Ready",
            status="True",
            reason="Heartbeat",
            message="ok",
            observed_generation=3,
            last_transition_time=T0,
        )
    ]


def test_same_status_keeps_the_transition_time_but_updates_the_details() -> None:
    conditions: list[Condition] = []
    set_condition(conditions, "Ready", "True", "Heartbeat", "ok", observed_generation=1, now=T0)

    changed = set_condition(conditions, "Ready", "True", "StillThere", "fine", observed_generation=2, now=T1)

    assert changed
    (ready,) = conditions
    assert ready.last_transition_time == T0
    assert (ready.reason, ready.message, ready.observed_generation) == ("StillThere", "fine", 2)


def test_a_status_change_moves_the_transition_time() -> None:
    conditions: list[Condition] = []
    set_condition(conditions, "Ready", "True", "Heartbeat", now=T0)

    set_condition(conditions, "Ready", "False", "HeartbeatMissed", "no heartbeat for 40s", now=T1)

    (ready,) = conditions
    assert (ready.status, ready.last_transition_time) == ("False", T1)


def test_setting_an_identical_condition_reports_no_change() -> None:
    conditions: list[Condition] = []
    set_condition(conditions, "Ready", "True", "Heartbeat", "ok", observed_generation=1, now=T0)
    before = list(conditions)

    assert not set_condition(conditions, "Ready", "True", "Heartbeat", "ok", now=T1)
    assert conditions == before  # observed_generation=None kept the stored generation


def test_other_conditions_are_left_alone_and_order_is_kept() -> None:
    conditions: list[Condition] = []
    set_condition(conditions, "Ready", "True", "Heartbeat", now=T0)
    set_condition(conditions, "Scheduled", "False", "NoCluster", now=T0)

    set_condition(conditions, "Ready", "Unknown", "Unreachable", now=T1)

    assert [(c.type, c.status) for c in conditions] == [("Ready", "Unknown"), ("Scheduled", "False")]
    assert conditions[1].last_transition_time == T0


def test_the_default_clock_is_utc_with_whole_seconds() -> None:
    conditions: list[Condition] = []
    set_condition(conditions, "Ready", "True", "Heartbeat")

    stamp = conditions[0].last_transition_time
    assert stamp is not None
    assert stamp.utcoffset() == timedelta(0)
    assert stamp.microsecond == 0
    assert abs(datetime.now(UTC) - stamp) < timedelta(seconds=5)


def test_find_is_true_and_remove() -> None:
    conditions: list[Condition] = []
    set_condition(conditions, "Ready", "True", "Heartbeat", now=T0)
    set_condition(conditions, "Scheduled", "False", "NoCluster", now=T0)

    assert find_condition(conditions, "Scheduled") is conditions[1]
    assert find_condition(conditions, "Missing") is None
    assert is_true(conditions, "Ready")
    assert not is_true(conditions, "Scheduled")
    assert not is_true(conditions, "Missing")
    assert remove_condition(conditions, "Ready")
    assert not remove_condition(conditions, "Ready")
    assert [c.type for c in conditions] == ["Scheduled"]


def test_an_invalid_reason_is_rejected() -> None:
    with pytest.raises(ValidationError, match="reason"):
        set_condition([], "Ready", "True", "not a CamelCase reason", now=T0)


def test_conditions_serialize_like_kubernetes() -> None:
    conditions: list[Condition] = []
    set_condition(conditions, "Ready", "True", "Heartbeat", "ok", observed_generation=4, now=T0)

    assert conditions[0].to_dict() == {
        "type": "Ready",
        "status": "True",
        "reason": "Heartbeat",
        "message": "ok",
        "lastTransitionTime": "2025-01-01T12:00:00Z",
        "observedGeneration": 4,
    }
