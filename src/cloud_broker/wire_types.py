"""Field types of the tool contract, shared by both faces: the HTTP API validates what the MCP
server already validated, with the same rules, so neither can drift from the other."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, StringConstraints
from pydantic_core import PydanticCustomError

from cloud_broker.domain.grammar import UUID_PATTERN
from cloud_broker.domain.requests import MAX_TTL, MIN_TTL

TTL_MIN, TTL_MAX = int(MIN_TTL.total_seconds()), int(MAX_TTL.total_seconds())

# A regex names what a field must look like; each pattern says it in words instead of echoing
# the regex. Families add their identifiers' patterns (``pattern_message``) when their wire
# types load. Syntax only: whether an action exists or a resource is acceptable is the policy
# engine's call, so the agent learns why in the decision rather than from a 400.
_PATTERN_MESSAGES = {
    UUID_PATTERN: "must be a UUID (8-4-4-4-12 hexadecimal digits)",
}


def pattern_message(pattern: str, message: str) -> str:
    """Register the words for ``pattern`` (once per pattern) and return the pattern."""
    known = _PATTERN_MESSAGES.setdefault(pattern, message)
    if known != message:
        raise ValueError(f"pattern {pattern!r} already reads {known!r}")
    return pattern


def whole_number(value: Any) -> Any:
    """Accept a JSON number without a fractional part; refuse strings and booleans outright."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PydanticCustomError("number_type", "must be a JSON number of seconds, not {kind}", {"kind": _kind(value)})
    if isinstance(value, float) and not value.is_integer():
        raise PydanticCustomError("whole_number", "must be a whole number of seconds")
    return int(value)


def _kind(value: Any) -> str:
    return {bool: "a boolean", str: "a string", type(None): "null"}.get(type(value), type(value).__name__)


Text = Annotated[str, Field(strict=True)]

# ``\s`` means something else to each regex engine: pydantic validates with Rust's (Unicode
# White_Space), readers of the OpenAPI document apply ECMA-262's. They disagree on U+0085 (the
# document admitted it, the API refused it) and U+FEFF (the other way round). A document pattern
# spells out the set the API enforces (``documented_pattern``); validation stays with the grammar.
WHITESPACE = r"\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"


def documented_pattern(pattern: str) -> str:
    """``pattern`` for the OpenAPI document: each ``\\s`` spelt out as the validator reads it."""
    return pattern.replace(r"\s", WHITESPACE)
Uuid = Annotated[Text, StringConstraints(pattern=UUID_PATTERN)]
# Bounds first: declared there, pydantic can write them into JSON Schema (the OpenAPI document).
TtlSeconds = Annotated[int, Field(ge=TTL_MIN, le=TTL_MAX), BeforeValidator(whole_number)]


_PLAIN_NAME = re.compile(r"[a-z][a-z0-9_-]{0,39}")  # the shape of this API's own field and header names


def _location_part(part: object) -> str:
    """A field name or index, as long as it is one: an unknown key is the caller's text, and
    may be a pasted secret."""
    text = str(part)
    return text if isinstance(part, int) or _PLAIN_NAME.fullmatch(text) else "<unrecognised field>"


def describe_issues(issues: Iterable[Mapping[str, Any]], *, drop: tuple[str, ...] = ()) -> list[str]:
    """One readable ``field: problem`` per pydantic issue, never echoing the input (it may be a
    pasted secret); ``drop`` removes framework prefixes such as ``body`` from locations."""
    problems = []
    for issue in issues:
        pattern = (issue.get("ctx") or {}).get("pattern")
        message = "unknown field" if issue.get("type") == "extra_forbidden" else issue.get("msg", "invalid")
        message = _PATTERN_MESSAGES.get(str(pattern), message)
        where = ".".join(_location_part(part) for part in issue.get("loc", ()) if part not in drop)
        problems.append(f"{where}: {message}" if where else str(message))
    return problems
