"""IAM ``Condition`` blocks, evaluated exactly or not at all.

moto treats any operator other than ``StringEquals`` as satisfied and never supplies
values such as ``aws:CurrentTime``, so a time-boxed grant would never expire and a
conditional ``Deny`` would deny everything. This module evaluates the operators the
broker writes and answers ``None`` ("cannot tell") for everything else, so that the
caller can fail closed: an ``Allow`` that cannot be proven does not allow, a ``Deny``
that cannot be disproven denies.

Truth values are three-valued (``True``, ``False``, ``None``) and combined with
Kleene's AND: one definite ``False`` decides, otherwise any ``None`` leaves it open.

Context values map a lower-cased condition key to its single value, or to ``None``
when the emulator knows the key is absent from the request. A key missing from the
mapping is one the emulator does not model; AWS might supply it, so it is unknown.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

Truth = bool | None
ConditionValues = Mapping[str, str | None]

_IF_EXISTS = "IfExists"
# AWS: with the key absent, negated operators are true and the others false.
_NEGATED = frozenset({"StringNotEquals", "StringNotLike"})


def evaluate_condition_block(block: Any, values: ConditionValues) -> Truth:
    """Evaluate a statement's whole ``Condition`` element (operators ANDed)."""
    if block is None:
        return True
    if not isinstance(block, Mapping):
        return None
    return kleene_and(evaluate_operator(operator, keys, values) for operator, keys in block.items())


def evaluate_operator(operator: str, keys: Any, values: ConditionValues) -> Truth:
    """One operator with its keys (ANDed); each key's policy values are ORed."""
    base, if_exists = _split_if_exists(operator)
    compare = _OPERATORS.get(base)
    if compare is None or not isinstance(keys, Mapping) or not keys:
        return None
    return kleene_and(
        _evaluate_key(base, if_exists, compare, key, expected, values) for key, expected in keys.items()
    )


def kleene_and(truths: Iterable[Truth]) -> Truth:
    """AND over three-valued truths: any False wins, then any None."""
    result: Truth = True
    for truth in truths:
        if truth is False:
            return False
        if truth is None:
            result = None
    return result


def glob_matches(pattern: str, text: str, *, ignore_case: bool = False) -> bool:
    """IAM wildcard match: ``*`` is any run of characters, ``?`` exactly one."""
    return _compile_glob(pattern, ignore_case).fullmatch(text) is not None


def parse_time(text: str) -> datetime | None:
    """Parse an IAM date value: ISO 8601 (naive means UTC) or epoch seconds."""
    if text.isdigit():
        return datetime.fromtimestamp(int(text), UTC)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _split_if_exists(operator: str) -> tuple[str, bool]:
    if operator.endswith(_IF_EXISTS):
        return operator[: -len(_IF_EXISTS)], True
    return operator, False


def _evaluate_key(
    base: str,
    if_exists: bool,
    compare: Callable[[str, list[str]], Truth],
    key: str,
    expected: Any,
    values: ConditionValues,
) -> Truth:
    lowered = key.lower()
    if lowered not in values:
        return None  # a key the emulator does not model: AWS might have it
    actual = values[lowered]
    if actual is None:
        return True if if_exists else base in _NEGATED
    policy_values = _policy_values(expected)
    if policy_values is None:
        return None
    return compare(actual, policy_values)


def _policy_values(expected: Any) -> list[str] | None:
    items = expected if isinstance(expected, list) else [expected]
    if not items or not all(isinstance(item, str | bool | int | float) for item in items):
        return None
    return [str(item).lower() if isinstance(item, bool) else str(item) for item in items]


def _string_equals(actual: str, expected: list[str]) -> Truth:
    return actual in expected


def _string_like(actual: str, expected: list[str]) -> Truth:
    return any(glob_matches(pattern, actual) for pattern in expected)


def _negate(compare: Callable[[str, list[str]], Truth]) -> Callable[[str, list[str]], Truth]:
    def negated(actual: str, expected: list[str]) -> Truth:
        truth = compare(actual, expected)
        return None if truth is None else not truth

    return negated


def _date_compare(
    holds: Callable[[datetime, datetime], bool],
) -> Callable[[str, list[str]], Truth]:
    def compare(actual: str, expected: list[str]) -> Truth:
        actual_at = parse_time(actual)
        bounds = [parse_time(value) for value in expected]
        if actual_at is None or any(bound is None for bound in bounds):
            return None  # an unparseable date proves nothing either way
        return any(holds(actual_at, bound) for bound in bounds if bound is not None)

    return compare


_OPERATORS: dict[str, Callable[[str, list[str]], Truth]] = {
    "StringEquals": _string_equals,
    "StringNotEquals": _negate(_string_equals),
    "StringLike": _string_like,
    "StringNotLike": _negate(_string_like),
    "DateLessThan": _date_compare(lambda at, bound: at < bound),
    "DateLessThanEquals": _date_compare(lambda at, bound: at <= bound),
    "DateGreaterThan": _date_compare(lambda at, bound: at > bound),
    "DateGreaterThanEquals": _date_compare(lambda at, bound: at >= bound),
}


@lru_cache(maxsize=1024)
def _compile_glob(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    regex = "".join(".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern)
    return re.compile(regex, re.DOTALL | (re.IGNORECASE if ignore_case else 0))
