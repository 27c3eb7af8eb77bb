"""Base model and schema annotations shared by every TMC API type.

Every TMC type is a pydantic model whose Python attributes are snake_case and whose
YAML/JSON keys are camelCase.  Cross-field rules are declared once as :class:`CelRule`:
the CEL text is rendered into the OpenAPI schema (``x-kubernetes-validations``) and the
Python predicate next to it makes the pydantic model reject the same objects, with an
error located at the same field.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    ValidationError,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import InitErrorDetails, PydanticCustomError, core_schema

# --- string formats shared by several types (RE2-compatible: usable by the Kubernetes apiserver) ---

DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
QUALIFIED_NAME_PATTERN = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
LABEL_VALUE_PATTERN = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
_DECIMAL = r"(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
QUANTITY_PATTERN = rf"^(\+|-)?{_DECIMAL}(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?{_DECIMAL}))?$"
CONDITION_REASON_PATTERN = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"

DNS_LABEL_MAX = 63
DNS_SUBDOMAIN_MAX = 253
QUALIFIED_NAME_MAX = 317  # optional 253-character prefix, "/", 63-character name
LABEL_VALUE_MAX = 63


def unwrap_text(text: str) -> str:
    """Join the hard-wrapped lines of each paragraph of a docstring; keep blank lines between paragraphs."""
    return re.sub(r"(?<!\n)\n(?!\n)", " ", text.strip())


@dataclass(frozen=True)
class CelRule:
    """A cross-field validation rule, rendered as one ``x-kubernetes-validations`` entry.

    ``rule`` is the CEL expression evaluated by the apiserver with ``self`` bound to the object
    the rule is attached to; ``check`` is the same rule in Python, evaluated by pydantic on the
    model instance.  ``field_path`` (``.field``) points the error at one field of that object.
    """

    rule: str
    message: str
    check: Callable[[Any], bool] = field(compare=False)
    field_path: str | None = None

    def __post_init__(self) -> None:
        if self.field_path is not None and (
            not self.field_path.startswith(".") or not self.field_path[1:].isidentifier()
        ):
            raise ValueError(f"CelRule field_path must look like '.field', got {self.field_path!r}")

    def to_schema(self) -> dict[str, str]:
        """The ``x-kubernetes-validations`` entry for this rule."""
        out = {"rule": self.rule, "message": self.message}
        if self.field_path is not None:
            out["fieldPath"] = self.field_path
        return out


def _add_cel_rules(schema: dict[str, Any], cls: type[Any]) -> None:
    rules: Sequence[CelRule] = cls.__dict__.get("__cel_rules__", ())
    if rules:
        schema["x-kubernetes-validations"] = [rule.to_schema() for rule in rules]


class ApiModel(BaseModel):
    """Base of every TMC API model: camelCase on the wire, snake_case in Python, strict, closed."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        # Like the apiserver: "3" is not an integer and "true" is not a boolean.  Timestamps opt out
        # (``Field(strict=False)``) so that RFC 3339 strings parse.
        strict=True,
        json_schema_extra=_add_cel_rules,
    )

    __cel_rules__: ClassVar[tuple[CelRule, ...]] = ()

    @model_validator(mode="after")
    def _check_cel_rules(self) -> ApiModel:
        errors: list[InitErrorDetails] = []
        for rule in type(self).__dict__.get("__cel_rules__", ()):
            if rule.check(self):
                continue
            loc: tuple[str, ...] = ()
            value: Any = self.to_dict()
            if rule.field_path is not None:
                alias = rule.field_path[1:]
                loc = (alias,)
                value = value.get(alias)
            errors.append(
                InitErrorDetails(
                    type=PydanticCustomError("cel_rule", "{message}", {"message": rule.message, "rule": rule.rule}),
                    loc=loc,
                    input=value,
                )
            )
        if errors:
            raise ValidationError.from_exception_data(type(self).__name__, errors)
        return self

    def to_dict(self) -> dict[str, Any]:
        """The object as Kubernetes JSON: camelCase keys, unset optional fields omitted."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def _item_key(item: Any, keys: Sequence[str]) -> tuple[Any, ...]:
    if isinstance(item, BaseModel):
        by_alias = {info.alias or name: name for name, info in type(item).model_fields.items()}
        return tuple(getattr(item, by_alias.get(key, key)) for key in keys)
    return (item,)


@dataclass(frozen=True)
class _ListType:
    list_type: Literal["map", "set", "atomic"]
    keys: tuple[str, ...] = ()

    def __get_pydantic_core_schema__(self, source_type: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        inner = handler(source_type)
        if self.list_type == "atomic":
            return inner
        return core_schema.no_info_after_validator_function(self._check_unique, inner)

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        out = handler(schema)
        out["x-kubernetes-list-type"] = self.list_type
        if self.keys:
            out["x-kubernetes-list-map-keys"] = list(self.keys)
        return out

    def _check_unique(self, items: list[Any]) -> list[Any]:
        seen: set[tuple[Any, ...]] = set()
        errors: list[InitErrorDetails] = []
        for index, item in enumerate(items):
            key = _item_key(item, self.keys)
            if key in seen:
                if self.keys:
                    what = ", ".join(f"{k}={v!r}" for k, v in zip(self.keys, key, strict=True))
                    msg = f"duplicate entry with {what}: entries must be unique by {', '.join(self.keys)}"
                else:
                    msg = f"duplicate entry {key[0]!r}: entries must be unique"
                errors.append(
                    InitErrorDetails(
                        type=PydanticCustomError("duplicate_entry", "{message}", {"message": msg}),
                        loc=(index,),
                        input=item.model_dump(by_alias=True) if isinstance(item, BaseModel) else item,
                    )
                )
            seen.add(key)
        if errors:
            raise ValidationError.from_exception_data("list", errors)
        return items


def ListMap(*keys: str) -> Any:
    """``Annotated`` marker: a list of objects unique by ``keys`` (``x-kubernetes-list-type: map``)."""
    if not keys:
        raise ValueError("ListMap needs at least one key")
    return _ListType("map", tuple(keys))


def ListSet() -> Any:
    """``Annotated`` marker: a list of unique scalars (``x-kubernetes-list-type: set``)."""
    return _ListType("set")


def Atomic() -> Any:
    """``Annotated`` marker: a list that server-side apply replaces as a whole (list-type ``atomic``)."""
    return _ListType("atomic")
