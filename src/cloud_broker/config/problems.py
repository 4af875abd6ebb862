"""A problem found in broker.yaml, and the translation of pydantic's errors into problems.

Pydantic's wording is written for programmers ("Input should be a valid tuple"); operators
edit YAML, so the common cases are reworded and unknown keys get a "did you mean".
"""

from __future__ import annotations

import difflib
import typing
from dataclasses import dataclass
from types import UnionType

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from cloud_broker.config.yaml_source import Loc, Position, YamlDocument


@dataclass(frozen=True)
class Problem:
    """``at_key``: point at the key itself (unknown keys); ``position`` overrides the lookup."""

    loc: Loc
    message: str
    at_key: bool = False
    position: Position | None = None

    def render(self, source: str, document: YamlDocument | None) -> str:
        """``source:line:column: dotted.location: message``; without line and column for in-memory data."""
        where = self._where(document)
        prefix = f"{source}:{where.line}:{where.column}" if where else source
        return f"{prefix}: {dotted(self.loc)}: {self.message}"

    def sort_key(self, document: YamlDocument | None) -> tuple[int, int]:
        where = self._where(document)
        return (where.line, where.column) if where else (0, 0)

    def _where(self, document: YamlDocument | None) -> Position | None:
        if self.position or document is None:
            return self.position
        return document.position(self.loc, at_key=self.at_key)


def dotted(loc: Loc) -> str:
    return ".".join(str(part) for part in loc) if loc else "(document)"


def from_validation_error(error: ValidationError, model: type[BaseModel]) -> list[Problem]:
    details = error.errors(include_url=False, include_input=False)
    return [_problem(detail, model) for detail in details if not _follows_from_items(detail, details)]


def _follows_from_items(detail: ErrorDetails, details: list[ErrorDetails]) -> bool:
    """Pydantic counts only valid items, so a list of invalid items is also 'too short': noise."""
    loc = tuple(detail["loc"])
    return detail["type"] == "too_short" and any(
        len(other["loc"]) > len(loc) and tuple(other["loc"][: len(loc)]) == loc for other in details
    )


def _problem(detail: ErrorDetails, model: type[BaseModel]) -> Problem:
    loc = tuple(detail["loc"])
    kind = detail["type"]
    if kind == "extra_forbidden":
        return Problem(loc, _unknown_key(loc, model), at_key=True)
    if kind == "missing":
        return Problem(loc, f"missing required field {loc[-1]!r}")
    return Problem(loc, _reworded(detail))


def _reworded(detail: ErrorDetails) -> str:
    kind, ctx = detail["type"], detail.get("ctx", {})
    if kind in ("tuple_type", "list_type"):
        return "expected a list"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return "expected a mapping of keys to values"
    if kind == "string_type":
        return "expected a string (quote it if YAML reads it as a number, date or boolean)"
    if kind == "int_type":
        return "expected a whole number"
    if kind in ("greater_than_equal", "less_than_equal"):
        bound = "at least" if kind == "greater_than_equal" else "at most"
        return f"must be {bound} {ctx.get('ge', ctx.get('le'))}"
    if kind == "too_short":
        count = ctx.get("min_length", 1)
        return "must not be empty" if count == 1 else f"must list at least {count} items"
    if kind == "value_error":
        return detail["msg"].removeprefix("Value error, ")
    return detail["msg"]


def _unknown_key(loc: Loc, model: type[BaseModel]) -> str:
    known = _fields_at(model, loc[:-1])
    message = f"unknown key {loc[-1]!r}"
    close = difflib.get_close_matches(str(loc[-1]), known, n=1)
    if close:
        return f"{message}: did you mean {close[0]!r}?"
    return f"{message}: expected one of {', '.join(known)}" if known else message


def _fields_at(model: type[BaseModel], loc: Loc) -> list[str]:
    """The field names of the model found at ``loc`` (following list items and optionals)."""
    current: object = model
    for part in loc:
        current = _inner_model(current)
        if isinstance(part, str):
            if not (isinstance(current, type) and issubclass(current, BaseModel)) or part not in current.model_fields:
                return []
            current = current.model_fields[part].annotation
    current = _inner_model(current)
    return list(current.model_fields) if isinstance(current, type) and issubclass(current, BaseModel) else []


def _inner_model(annotation: object) -> object:
    """Unwraps ``tuple[X, ...]``, ``list[X]`` and ``X | None`` down to the model they hold."""
    origin = typing.get_origin(annotation)
    if origin in (tuple, list, typing.Union, UnionType):
        models = [arg for arg in typing.get_args(annotation) if isinstance(arg, type) and issubclass(arg, BaseModel)]
        return models[0] if models else annotation
    return annotation
