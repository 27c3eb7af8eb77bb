"""Validation errors raised for malformed placement inputs.

Every error names the offending field with a camelCase path relative to the
user-facing object (``spec.locationSelector.matchExpressions[0].values``) so an
admission webhook or controller can surface it verbatim.
"""

from __future__ import annotations


class PlacementValidationError(ValueError):
    """An input to the placement engine is malformed."""

    def __init__(self, field_path: str, message: str) -> None:
        super().__init__(f"{field_path}: {message}")
        self.field_path = field_path
        self.message = message


class InvalidSelectorError(PlacementValidationError):
    """A label selector is malformed (unknown operator, missing or extra values, ...)."""
