"""Label selector evaluation.

A :class:`LabelSelector` is compiled once (validating it and recording field
paths for errors) into a :class:`CompiledSelector`, which offers three views of
the same semantics:

* :meth:`CompiledSelector.matches` - a boolean over one label mapping;
* :meth:`CompiledSelector.explain` - the human-readable list of unmet
  requirements (empty iff ``matches``), used for cluster explanations;
* :meth:`CompiledSelector.requirements` - normalised ``(key, op, values)``
  triples, which :mod:`tmc.placement.index` evaluates over label *values*
  instead of over clusters.

Semantics follow Kubernetes: ``NotIn`` and ``DoesNotExist`` match a missing
label; ``Gt``/``Lt`` need the label to parse as an integer.
"""

from __future__ import annotations

from collections.abc import Mapping

from tmc.placement.errors import InvalidSelectorError
from tmc.placement.types import LabelSelector, SelectorOperator

_MAX_LISTED_LABELS = 10

Requirement = tuple[str, SelectorOperator, tuple[str, ...]]


def format_labels(labels: Mapping[str, str]) -> str:
    """``k=v, ...`` sorted by key, capped so a message never lists hundreds of labels."""
    if not labels:
        return "none"
    items = sorted(labels.items())
    shown = ", ".join(f"{k}={v}" for k, v in items[:_MAX_LISTED_LABELS])
    if len(items) > _MAX_LISTED_LABELS:
        shown += f", ... (+{len(items) - _MAX_LISTED_LABELS} more)"
    return shown


def _parse_int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value, 10)
    except ValueError:
        return None


def requirement_holds(labels: Mapping[str, str], key: str, op: SelectorOperator, values: tuple[str, ...]) -> bool:
    actual = labels.get(key)
    if op is SelectorOperator.IN:
        return actual is not None and actual in values
    if op is SelectorOperator.NOT_IN:
        return actual is None or actual not in values
    if op is SelectorOperator.EXISTS:
        return actual is not None
    if op is SelectorOperator.DOES_NOT_EXIST:
        return actual is None
    number = _parse_int(actual)
    if number is None:
        return False
    bound = int(values[0])
    return number > bound if op is SelectorOperator.GT else number < bound


class CompiledSelector:
    """A validated selector. Instances are immutable and compare by their source selector."""

    __slots__ = ("_requirements", "source")

    def __init__(self, source: LabelSelector, requirements: tuple[Requirement, ...]) -> None:
        self.source = source
        self._requirements = requirements

    @property
    def requirements(self) -> tuple[Requirement, ...]:
        return self._requirements

    @property
    def is_empty(self) -> bool:
        return not self._requirements

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CompiledSelector) and other.source == self.source

    def __hash__(self) -> int:
        return hash(self.source)

    def __repr__(self) -> str:
        return f"CompiledSelector({describe(self)})"

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(requirement_holds(labels, key, op, values) for key, op, values in self._requirements)

    def explain(self, labels: Mapping[str, str]) -> list[str]:
        """One message per unmet requirement; empty when the selector matches."""
        return [
            _mismatch_message(labels, key, op, values)
            for key, op, values in self._requirements
            if not requirement_holds(labels, key, op, values)
        ]


def describe(selector: CompiledSelector) -> str:
    """Compact rendering such as ``region=us-west, tier In (a, b)``; ``<everything>`` if empty."""
    parts = []
    for key, op, values in selector.requirements:
        if op is SelectorOperator.IN and len(values) == 1:
            parts.append(f"{key}={values[0]}")
        elif op in (SelectorOperator.EXISTS, SelectorOperator.DOES_NOT_EXIST):
            parts.append(f"{key} {op}")
        elif op in (SelectorOperator.GT, SelectorOperator.LT):
            parts.append(f"{key} {op} {values[0]}")
        else:
            parts.append(f"{key} {op} ({', '.join(values)})")
    return ", ".join(parts) if parts else "<everything>"


def _mismatch_message(labels: Mapping[str, str], key: str, op: SelectorOperator, values: tuple[str, ...]) -> str:
    actual = labels.get(key)
    if op is SelectorOperator.IN and len(values) == 1:
        # matchLabels entries compile to a single-valued In; phrase them like the YAML the user wrote.
        subject = f"label {key}"
        if actual is not None:
            return f"{subject}: cluster has {key}={actual}, selector wants {key}={values[0]}"
    elif op in (SelectorOperator.IN, SelectorOperator.NOT_IN):
        subject = f"label {key} {op} ({', '.join(values)})"
    elif op in (SelectorOperator.GT, SelectorOperator.LT):
        subject = f"label {key} {op} {values[0]}"
        if actual is not None:
            return f"{subject}: cluster has {key}={actual}" + (
                "" if _parse_int(actual) is not None else ", which is not an integer"
            )
    else:
        subject = f"label {key} {op}"
    if actual is None:
        return f"{subject}: cluster has no such label (labels: {format_labels(labels)})"
    return f"{subject}: cluster has {key}={actual}"


def compile_selector(selector: LabelSelector, path: str) -> CompiledSelector:
    """Validate ``selector`` and compile it. ``path`` prefixes field paths in errors."""
    requirements: list[Requirement] = []
    for key, value in sorted(selector.match_labels.items()):
        if not key:
            raise InvalidSelectorError(f"{path}.matchLabels", "label key must not be empty")
        requirements.append((key, SelectorOperator.IN, (value,)))
    for i, expression in enumerate(selector.match_expressions):
        here = f"{path}.matchExpressions[{i}]"
        if not expression.key:
            raise InvalidSelectorError(f"{here}.key", "must not be empty")
        try:
            op = SelectorOperator(expression.operator)
        except ValueError:
            allowed = ", ".join(o.value for o in SelectorOperator)
            raise InvalidSelectorError(
                f"{here}.operator", f"unknown operator {expression.operator!r} (expected one of {allowed})"
            ) from None
        values = tuple(expression.values)
        if op in (SelectorOperator.IN, SelectorOperator.NOT_IN):
            if not values:
                raise InvalidSelectorError(f"{here}.values", f"operator {op} requires at least one value")
            values = tuple(sorted(set(values)))
        elif op in (SelectorOperator.EXISTS, SelectorOperator.DOES_NOT_EXIST):
            if values:
                raise InvalidSelectorError(f"{here}.values", f"operator {op} takes no values")
        else:
            if len(values) != 1 or _parse_int(values[0]) is None:
                raise InvalidSelectorError(
                    f"{here}.values", f"operator {op} requires exactly one integer value, got {list(values)}"
                )
        requirements.append((expression.key, op, values))
    return CompiledSelector(selector, tuple(requirements))
