"""Helpers for ``status.conditions`` lists, with Kubernetes semantics.

``lastTransitionTime`` records when ``status`` last changed, so it is only touched when the
status flips; reason, message and observedGeneration are updated in place.
"""

from __future__ import annotations

from datetime import UTC, datetime

from tmc.api.meta import Condition, ConditionStatus


def _now() -> datetime:
    # Kubernetes serializes metav1.Time with second precision.
    return datetime.now(UTC).replace(microsecond=0)


def find_condition(conditions: list[Condition], type: str) -> Condition | None:
    """The condition of ``type``, or ``None``."""
    for condition in conditions:
        if condition.type == type:
            return condition
    return None


def is_true(conditions: list[Condition], type: str) -> bool:
    """Whether the condition of ``type`` exists and is ``"True"``."""
    condition = find_condition(conditions, type)
    return condition is not None and condition.status == "True"


def set_condition(
    conditions: list[Condition],
    type: str,
    status: ConditionStatus,
    reason: str,
    message: str = "",
    observed_generation: int | None = None,
    now: datetime | None = None,
) -> bool:
    """Add or update the condition of ``type`` in place; return whether anything changed.

    ``lastTransitionTime`` is set to ``now`` (default: the current UTC time, whole seconds) when the
    condition is new, its ``status`` changes or it had none, and kept otherwise.  ``observed_generation=None``
    keeps the stored value.
    """
    index = 0
    for index, existing in enumerate(conditions):  # noqa: B007 - index is used after the loop
        if existing.type == type:
            break
    else:
        conditions.append(
            Condition(
                type=type,
                status=status,
                reason=reason,
                message=message,
                observed_generation=observed_generation,
                last_transition_time=now or _now(),
            )
        )
        return True

    updated = Condition(
        type=type,
        status=status,
        reason=reason,
        message=message,
        observed_generation=(existing.observed_generation if observed_generation is None else observed_generation),
        last_transition_time=(
            existing.last_transition_time
            if existing.status == status and existing.last_transition_time is not None
            else (now or _now())
        ),
    )
    if updated == existing:
        return False
    conditions[index] = updated
    return True


def remove_condition(conditions: list[Condition], type: str) -> bool:
    """Remove the condition of ``type`` in place; return whether it existed."""
    existing = find_condition(conditions, type)
    if existing is None:
        return False
    conditions.remove(existing)
    return True
