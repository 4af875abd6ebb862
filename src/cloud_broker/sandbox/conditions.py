"""IAM ``Condition`` blocks, evaluated exactly or not at all.

moto treats any operator other than ``StringEquals`` as satisfied and never supplies
values such as ``aws:CurrentTime``, so a time-boxed grant would never expire and a
conditional ``Deny`` would deny everything. This module evaluates AWS's condition
grammar -- every base operator of :mod:`~cloud_broker.sandbox.condition_operators`,
the ``...IfExists`` suffix, ``Null``, and the ``ForAllValues:`` / ``ForAnyValue:``
set qualifiers -- and answers ``None`` ("cannot tell") for anything else, so that
the caller can fail closed: an ``Allow`` that cannot be proven does not allow, a
``Deny`` that cannot be disproven denies.

Truth values are three-valued (``True``, ``False``, ``None``) and combined with
Kleene's AND: one definite ``False`` decides, otherwise any ``None`` leaves it open.

Context values map a lower-cased condition key to its value: a string for a
single-valued key, a tuple of strings for a multivalued one (``aws:TagKeys``), or
``None`` when the emulator knows the key is absent from the request. A key missing
from the mapping is one the emulator does not model; AWS might supply it, so it is
unknown.

AWS's rules, as documented ("IAM JSON policy elements: Condition operators" and
"Single-valued vs. multivalued context keys"): with the key absent a condition is
false, except that negated operators are true, ``...IfExists`` is true and ``Null``
tests presence; ``ForAllValues`` is true when every request value matches (and when
the key is absent or empty), ``ForAnyValue`` when at least one does (false when
absent). Narrower than AWS: a plain (unqualified) operator on a multivalued value,
which AWS tells authors not to write, answers ``None``; policy variables
(``${aws:username}``) in condition values are compared literally -- see
:mod:`~cloud_broker.sandbox.policy_evaluator` for how statements using them fail closed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from cloud_broker.sandbox.condition_operators import OPERATORS, Operator, Truth, kleene_or, parse_time
from cloud_broker.sandbox.globs import glob_matches

__all__ = [
    "ConditionValues",
    "ContextValue",
    "Truth",
    "evaluate_condition_block",
    "evaluate_operator",
    "glob_matches",
    "kleene_and",
    "kleene_or",
    "parse_time",
]

ContextValue = str | tuple[str, ...] | None
ConditionValues = Mapping[str, ContextValue]

_IF_EXISTS = "IfExists"
_FOR_ALL = "ForAllValues"
_FOR_ANY = "ForAnyValue"


class _Parsed(NamedTuple):
    qualifier: str | None  # ForAllValues, ForAnyValue or None
    base: str
    if_exists: bool


def evaluate_condition_block(block: Any, values: ConditionValues) -> Truth:
    """Evaluate a statement's whole ``Condition`` element (operators ANDed)."""
    if block is None:
        return True
    if not isinstance(block, Mapping):
        return None
    return kleene_and(evaluate_operator(operator, keys, values) for operator, keys in block.items())


def evaluate_operator(operator: str, keys: Any, values: ConditionValues) -> Truth:
    """One operator with its keys (ANDed); each key's policy values are ORed."""
    parsed = _parse_operator(operator)
    if parsed is None or not isinstance(keys, Mapping) or not keys:
        return None
    return kleene_and(_evaluate_key(parsed, key, expected, values) for key, expected in keys.items())


def kleene_and(truths: Iterable[Truth]) -> Truth:
    """AND over three-valued truths: any False wins, then any None."""
    result: Truth = True
    for truth in truths:
        if truth is False:
            return False
        if truth is None:
            result = None
    return result


def _parse_operator(operator: str) -> _Parsed | None:
    qualifier, _, base = operator.rpartition(":")
    if qualifier not in ("", _FOR_ALL, _FOR_ANY):
        return None
    if_exists = base.endswith(_IF_EXISTS)
    if if_exists:
        base = base[: -len(_IF_EXISTS)]
    if base == "Null":
        # Null is itself the presence test: no IfExists, no set qualifier.
        return None if (if_exists or qualifier) else _Parsed(None, base, False)
    if base not in OPERATORS:
        return None
    return _Parsed(qualifier or None, base, if_exists)


def _evaluate_key(parsed: _Parsed, key: Any, expected: Any, values: ConditionValues) -> Truth:
    lowered = str(key).lower()
    policy_values = _policy_values(expected)
    if lowered not in values or policy_values is None:
        return None  # a key the emulator does not model (AWS might have it), or a value AWS rejects
    actual = values[lowered]
    if parsed.base == "Null":
        return _null(actual, policy_values)
    operator = OPERATORS[parsed.base]
    if parsed.qualifier is not None:
        return _evaluate_set(parsed, operator, actual, policy_values)
    if actual is None:
        return True if parsed.if_exists else operator.negated
    if isinstance(actual, tuple):
        return None  # a plain operator on a multivalued key: AWS says not to; its answer is unmodelled
    return operator.compare(actual, policy_values)


def _evaluate_set(parsed: _Parsed, operator: Operator, actual: Any, policy_values: list[str]) -> Truth:
    items = () if actual is None else (actual,) if isinstance(actual, str) else tuple(actual)
    if not items:
        return True if parsed.qualifier == _FOR_ALL else parsed.if_exists
    truths = [operator.compare(item, policy_values) for item in items]
    return kleene_and(truths) if parsed.qualifier == _FOR_ALL else kleene_or(truths)


def _null(actual: Any, policy_values: list[str]) -> Truth:
    # "true": the key is absent; "false": it is present. An empty set is left open.
    if isinstance(actual, tuple) and not actual:
        return None
    wanted = [value.lower() for value in policy_values]
    if not set(wanted) <= {"true", "false"}:
        return None
    return ("true" if actual is None else "false") in wanted


def _policy_values(expected: Any) -> list[str] | None:
    items = expected if isinstance(expected, list) else [expected]
    if not items or not all(isinstance(item, str | bool | int | float) for item in items):
        return None
    return [str(item).lower() if isinstance(item, bool) else str(item) for item in items]
