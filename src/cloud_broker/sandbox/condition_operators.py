"""The comparison behind each IAM condition operator, for one request value.

Why this exists: moto knows ``StringEquals`` only and treats every other operator as
satisfied, so a conditional ``Deny`` denies everything and a conditional ``Allow``
allows regardless. This module is the catalogue of AWS's operators ("IAM JSON policy
elements: Condition operators"): String*, Numeric*, Date*, ``Bool``, ``BinaryEquals``,
``IpAddress`` / ``NotIpAddress`` and Arn*. ``Null``, ``...IfExists`` and the
``ForAllValues:`` / ``ForAnyValue:`` qualifiers are about presence and sets, and live
in :mod:`cloud_broker.sandbox.conditions`.

An operator compares one request value with the policy's values for a key; the policy
values are ORed (the request value matches if it matches any of them) and a negated
operator is true when the value matches none. A value that cannot be read as the
operator's type -- a number that is not one, a date AWS would not parse -- proves
nothing either way: the comparison answers ``None`` so the caller fails closed.

Narrower than AWS: a policy value of the wrong type answers ``None`` (AWS would
simply not match), which makes a ``Deny`` deny rather than be skipped; ``Bool``
accepts only ``true`` and ``false`` (any case); ``BinaryEquals`` compares the base64
text as written.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from cloud_broker.sandbox.globs import glob_matches

Truth = bool | None
Match = Callable[[str, str], Truth]  # (request value, one policy value)


@dataclass(frozen=True)
class Operator:
    """One base operator: how a request value compares with the policy's values.

    ``negated`` operators (``StringNotEquals``, ``NotIpAddress``, ``ArnNotLike``, ...)
    are true when nothing matches -- and, as AWS documents, when the key is absent.
    """

    match: Match
    negated: bool = False

    def compare(self, actual: str, expected: list[str]) -> Truth:
        """Does ``actual`` match any of ``expected`` (none of them, if negated)?"""
        truth = kleene_or(self.match(actual, value) for value in expected)
        if truth is None or not self.negated:
            return truth
        return not truth


def kleene_or(truths: Iterable[Truth]) -> Truth:
    """OR over three-valued truths: any True wins, then any None."""
    result: Truth = False
    for truth in truths:
        if truth is True:
            return True
        if truth is None:
            result = None
    return result


def parse_time(text: str) -> datetime | None:
    """Parse an IAM date value: ISO 8601 (naive means UTC) or epoch seconds."""
    if text.isdigit():
        return datetime.fromtimestamp(int(text), UTC)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _parse_number(text: str) -> Decimal | None:
    try:
        number = Decimal(text.strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _numeric(holds: Callable[[Decimal, Decimal], bool]) -> Match:
    def match(actual: str, bound: str) -> Truth:
        left, right = _parse_number(actual), _parse_number(bound)
        return None if left is None or right is None else holds(left, right)

    return match


def _date(holds: Callable[[datetime, datetime], bool]) -> Match:
    def match(actual: str, bound: str) -> Truth:
        left, right = parse_time(actual), parse_time(bound)
        return None if left is None or right is None else holds(left, right)

    return match


def _bool(actual: str, expected: str) -> Truth:
    words = {"true", "false"}
    if actual.lower() not in words or expected.lower() not in words:
        return None
    return actual.lower() == expected.lower()


def _ip_address(actual: str, network: str) -> Truth:
    try:
        address = ipaddress.ip_address(actual)
        block = ipaddress.ip_network(network, strict=False)
    except ValueError:
        return None
    return address in block  # an IPv4 address is never in an IPv6 block, and vice versa


def _arn_like(actual: str, pattern: str) -> Truth:
    # AWS checks each of the six colon-delimited components separately, wildcards
    # within a component only; the resource part (the sixth) may itself hold colons.
    wanted = pattern.split(":", 5)
    if len(wanted) != 6:
        return None  # not an ARN pattern: AWS's answer is not documented
    parts = actual.split(":", 5)
    return len(parts) == 6 and all(glob_matches(w, p) for w, p in zip(wanted, parts, strict=True))


def _string_like(actual: str, pattern: str) -> Truth:
    return glob_matches(pattern, actual)


def _equals(actual: str, expected: str) -> Truth:
    return actual == expected


def _equals_ignore_case(actual: str, expected: str) -> Truth:
    return actual.casefold() == expected.casefold()


def _both(match: Match) -> tuple[Operator, Operator]:
    return Operator(match), Operator(match, negated=True)


_STRING_EQUALS, _STRING_NOT_EQUALS = _both(_equals)
_IGNORE_CASE, _NOT_IGNORE_CASE = _both(_equals_ignore_case)
_STRING_LIKE, _STRING_NOT_LIKE = _both(_string_like)
_NUMERIC_EQUALS, _NUMERIC_NOT_EQUALS = _both(_numeric(lambda a, b: a == b))
_DATE_EQUALS, _DATE_NOT_EQUALS = _both(_date(lambda a, b: a == b))
_IP_ADDRESS, _NOT_IP_ADDRESS = _both(_ip_address)
_ARN_LIKE, _ARN_NOT_LIKE = _both(_arn_like)

OPERATORS: dict[str, Operator] = {
    "StringEquals": _STRING_EQUALS,
    "StringNotEquals": _STRING_NOT_EQUALS,
    "StringEqualsIgnoreCase": _IGNORE_CASE,
    "StringNotEqualsIgnoreCase": _NOT_IGNORE_CASE,
    "StringLike": _STRING_LIKE,
    "StringNotLike": _STRING_NOT_LIKE,
    "NumericEquals": _NUMERIC_EQUALS,
    "NumericNotEquals": _NUMERIC_NOT_EQUALS,
    "NumericLessThan": Operator(_numeric(lambda a, b: a < b)),
    "NumericLessThanEquals": Operator(_numeric(lambda a, b: a <= b)),
    "NumericGreaterThan": Operator(_numeric(lambda a, b: a > b)),
    "NumericGreaterThanEquals": Operator(_numeric(lambda a, b: a >= b)),
    "DateEquals": _DATE_EQUALS,
    "DateNotEquals": _DATE_NOT_EQUALS,
    "DateLessThan": Operator(_date(lambda a, b: a < b)),
    "DateLessThanEquals": Operator(_date(lambda a, b: a <= b)),
    "DateGreaterThan": Operator(_date(lambda a, b: a > b)),
    "DateGreaterThanEquals": Operator(_date(lambda a, b: a >= b)),
    "Bool": Operator(_bool),
    "BinaryEquals": Operator(_equals),
    "IpAddress": _IP_ADDRESS,
    "NotIpAddress": _NOT_IP_ADDRESS,
    # AWS documents ArnEquals and ArnLike (and their negations) as the same matching.
    "ArnEquals": _ARN_LIKE,
    "ArnLike": _ARN_LIKE,
    "ArnNotEquals": _ARN_NOT_LIKE,
    "ArnNotLike": _ARN_NOT_LIKE,
}
