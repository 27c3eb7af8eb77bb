"""Types shared by the TMC kinds: object metadata, conditions and label selectors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import AwareDatetime, ConfigDict, Field

from tmc.api._base import (
    CONDITION_REASON_PATTERN,
    LABEL_VALUE_MAX,
    LABEL_VALUE_PATTERN,
    QUALIFIED_NAME_MAX,
    QUALIFIED_NAME_PATTERN,
    ApiModel,
    Atomic,
    CelRule,
)

ConditionStatus = Literal["True", "False", "Unknown"]
SelectorOperator = Literal["In", "NotIn", "Exists", "DoesNotExist"]

CONDITION_TYPE_PATTERN = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
)


class ObjectMeta(ApiModel):
    """Standard Kubernetes object metadata; the fields TMC reads are typed, every other key is kept as is."""

    model_config = ConfigDict(extra="allow")

    name: str | None = Field(
        default=None, description="Name of the object, unique within its namespace (or workspace)."
    )
    namespace: str | None = Field(
        default=None, description="Namespace of a namespaced object; absent for cluster-scoped objects."
    )
    labels: dict[str, str] = Field(
        default_factory=dict, description="Labels; selectors such as `locationSelector` match against them."
    )
    annotations: dict[str, str] = Field(default_factory=dict, description="Unstructured key/value annotations.")
    generation: int | None = Field(
        default=None,
        description="Sequence number of the desired state, incremented by the server on spec changes.",
    )
    resource_version: str | None = Field(
        default=None, description="Opaque version used for optimistic concurrency and watches."
    )
    uid: str | None = Field(default=None, description="Unique identifier assigned by the server.")
    finalizers: list[str] = Field(
        default_factory=list, description="Finalizers that must be removed before the object is deleted."
    )
    deletion_timestamp: AwareDatetime | None = Field(
        default=None,
        strict=False,
        description="Set by the server when deletion was requested and finalizers are pending.",
    )


class Condition(ApiModel):
    """One aspect of an object's observed state, in the shape of Kubernetes `metav1.Condition`."""

    type: str = Field(
        description="Condition type in CamelCase, e.g. `Ready` or `Scheduled`; unique within the list.",
        max_length=316,
        pattern=CONDITION_TYPE_PATTERN,
    )
    status: ConditionStatus = Field(
        description="Whether the condition holds: `True`, `False`, or `Unknown` (a string, not a boolean)."
    )
    reason: str | None = Field(
        default=None,
        description="Machine-readable CamelCase reason for the last transition, e.g. `HeartbeatMissed`.",
        max_length=1024,
        pattern=CONDITION_REASON_PATTERN,
    )
    message: str | None = Field(
        default=None, description="Human-readable details about the last transition.", max_length=32768
    )
    last_transition_time: AwareDatetime | None = Field(
        default=None,
        strict=False,
        description="When `status` last changed (RFC 3339); unchanged when only reason or message change.",
    )
    observed_generation: int | None = Field(
        default=None, ge=0, description="`metadata.generation` the condition was computed from."
    )


class LabelSelectorRequirement(ApiModel):
    """One `matchExpressions` term: a label key, an operator and (for `In`/`NotIn`) a list of values."""

    __cel_rules__ = (
        CelRule(
            rule=(
                "self.operator in ['In', 'NotIn'] ? (has(self.values) && size(self.values) > 0)"
                " : (!has(self.values) || size(self.values) == 0)"
            ),
            message=(
                "matchExpressions[].values must be non-empty when operator is In or NotIn,"
                " and empty when operator is Exists or DoesNotExist"
            ),
            field_path=".values",
            check=lambda s: bool(s.values) == (s.operator in ("In", "NotIn")),
        ),
    )

    key: str = Field(
        description="Label key the requirement applies to, e.g. `region` or `tmc.kcp.io/location`.",
        max_length=QUALIFIED_NAME_MAX,
        pattern=QUALIFIED_NAME_PATTERN,
    )
    operator: SelectorOperator = Field(
        description=(
            "`In`: the label is present and its value is in `values`. `NotIn`: the label is absent or its"
            " value is not in `values`. `Exists`: the label is present. `DoesNotExist`: the label is absent."
        )
    )
    values: Annotated[
        list[Annotated[str, Field(max_length=LABEL_VALUE_MAX, pattern=LABEL_VALUE_PATTERN)]],
        Field(max_length=64),
        Atomic(),
    ] = Field(
        default_factory=list,
        description=("Label values; required (non-empty) for `In`/`NotIn`, must be empty for `Exists`/`DoesNotExist`."),
    )

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether ``labels`` satisfy this requirement."""
        present = self.key in labels
        if self.operator == "In":
            return present and labels[self.key] in self.values
        if self.operator == "NotIn":
            return not present or labels[self.key] not in self.values
        if self.operator == "Exists":
            return present
        return not present


class LabelSelector(ApiModel):
    """A Kubernetes label selector; all `matchLabels` and all `matchExpressions` must hold (AND).

    An empty selector (`{}`) matches every object.
    """

    match_labels: dict[str, str] = Field(
        default_factory=dict,
        description="Exact label matches; `{key: value}` is the same as an `In` expression with one value.",
    )
    match_expressions: Annotated[list[LabelSelectorRequirement], Field(max_length=32), Atomic()] = Field(
        default_factory=list, description="Set-based label requirements, all of which must hold."
    )

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether an object with ``labels`` is selected (an empty selector selects everything)."""
        if any(labels.get(key) != value for key, value in self.match_labels.items()):
            return False
        return all(requirement.matches(labels) for requirement in self.match_expressions)
