"""A grant's scope as a typed document: named lists of strings, their meaning the family's.

AWS keeps ``actions``, ``resources`` and ``regions``; GCP ``permissions`` and ``resources``.
The shared layers store, hash, narrow, count and render a scope without knowing which cloud it
is for; each family names its fields (``ScopeField``) and gives them meaning in its engine.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

Scope = Mapping[str, tuple[str, ...]]


@dataclass(frozen=True)
class ScopeField:
    """One list of a family's scope, and how people see and edit it."""

    key: str  # the document's key, and the wire's: "actions", "permissions", "resources"
    label: str  # "Actions", "Permissions"
    form_name: str  # the console's checkbox name for one item: "action", "permission"
    # An approver may cut this list down to a non-empty subset when approving.
    narrowable: bool = False
    # A short list of plain names (AWS regions), shown inline among a card's facts rather than
    # as a list of its own.
    inline: bool = False


def freeze(document: Mapping[str, Iterable[Any]], fields: Iterable[ScopeField]) -> dict[str, tuple[str, ...]]:
    """The scope of a stored or received document, in the family's field order. Missing fields
    read as empty; keys the family does not declare are refused (a row of another family)."""
    keys = [field.key for field in fields]
    unknown = set(document) - set(keys)
    if unknown:
        raise ValueError(f"scope fields {sorted(unknown)} are not among {keys}")
    return {key: tuple(str(item) for item in document.get(key, ())) for key in keys}


def document(scope: Scope) -> dict[str, list[str]]:
    """The JSON form of a scope (for the store, the wire and the audit trail)."""
    return {key: list(values) for key, values in scope.items()}


def canonical(scope: Scope) -> list[Any]:
    """The scope with its fields and each list sorted: equal for requests that differ only in
    the order their lists (or their fields) came in."""
    return [[key, sorted(scope[key])] for key in sorted(scope)]


def digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, separators=(",", ":")).encode()).hexdigest()
