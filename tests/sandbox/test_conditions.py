"""The condition operators the broker writes, evaluated as AWS does (moto does not)."""

from __future__ import annotations

import pytest

from cloud_broker.sandbox.conditions import (
    evaluate_condition_block,
    evaluate_operator,
    glob_matches,
    kleene_and,
    parse_time,
)

NOW = {"aws:currenttime": "2025-06-01T12:00:00Z", "aws:requestedregion": "us-east-1"}


@pytest.mark.parametrize(
    ("operator", "bound", "expected"),
    [
        ("DateLessThan", "2025-06-01T12:00:01Z", True),
        ("DateLessThan", "2025-06-01T12:00:00Z", False),
        ("DateLessThanEquals", "2025-06-01T12:00:00Z", True),
        ("DateGreaterThan", "2025-06-01T11:59:59Z", True),
        ("DateGreaterThan", "2025-06-01T12:00:00Z", False),
        ("DateGreaterThanEquals", "2025-06-01T12:00:00Z", True),
        ("DateLessThan", "1748779201", True),  # epoch seconds are accepted by AWS too
    ],
)
def test_date_operators_compare_current_time_with_the_bound(
    operator: str, bound: str, expected: bool
) -> None:
    """AWS compares aws:CurrentTime with Date* bounds; moto assumes them true (extended)."""
    assert evaluate_operator(operator, {"aws:CurrentTime": bound}, NOW) is expected


@pytest.mark.parametrize(
    ("operator", "values", "expected"),
    [
        ("StringEquals", "us-east-1", True),
        ("StringEquals", ["eu-west-1", "us-east-1"], True),  # values of one key are ORed
        ("StringEquals", "US-EAST-1", False),  # StringEquals is case-sensitive
        ("StringNotEquals", "eu-west-1", True),
        ("StringNotEquals", ["eu-west-1", "us-east-1"], False),
        ("StringLike", "us-*", True),
        ("StringLike", "us-east-?", True),
        ("StringLike", "eu-*", False),
        ("StringNotLike", "eu-*", True),
        ("StringNotLike", "us-*", False),
    ],
)
def test_string_operators_match_values_as_aws_does(operator: str, values: object, expected: bool) -> None:
    """AWS string operators: exact or glob, values ORed, Not* negated; moto knows StringEquals only."""
    assert evaluate_operator(operator, {"aws:RequestedRegion": values}, NOW) is expected


def test_condition_keys_are_case_insensitive() -> None:
    """AWS treats condition key names case-insensitively (extension: our evaluator)."""
    assert evaluate_operator("StringEquals", {"AWS:REQUESTEDREGION": "us-east-1"}, NOW) is True


def test_keys_of_one_operator_and_operators_of_one_block_are_anded() -> None:
    """AWS ANDs every key and every operator of a Condition block (extension: our evaluator)."""
    block = {
        "StringEquals": {"aws:RequestedRegion": "us-east-1"},
        "DateLessThan": {"aws:CurrentTime": "2001-01-01T00:00:00Z"},
    }
    assert evaluate_condition_block(block, NOW) is False
    assert evaluate_condition_block(None, NOW) is True


@pytest.mark.parametrize(
    "operator", ["NumericLessThan", "Bool", "IpAddress", "Null", "ForAnyValue:StringEquals", "stringequals"]
)
def test_unsupported_operators_are_unknown_not_satisfied(operator: str) -> None:
    """moto treats unsupported operators as satisfied; the extension answers 'unknown' (fail closed)."""
    assert evaluate_operator(operator, {"aws:RequestedRegion": "us-east-1"}, NOW) is None


def test_a_key_the_emulator_does_not_model_is_unknown() -> None:
    """AWS may supply keys the emulator cannot (aws:SourceIp); they prove nothing either way
    (extension: our evaluator).
    """
    assert evaluate_operator("StringEquals", {"aws:SourceIp": "10.0.0.1"}, NOW) is None
    assert evaluate_operator("StringNotEquals", {"aws:SourceIp": "10.0.0.1"}, NOW) is None


def test_an_absent_key_fails_positive_operators_and_satisfies_negated_ones() -> None:
    """AWS: key absent from the request -> StringEquals false, StringNotEquals true (extension: our
    evaluator).
    """
    values = {"s3:prefix": None}
    assert evaluate_operator("StringEquals", {"s3:prefix": "a/"}, values) is False
    assert evaluate_operator("StringNotLike", {"s3:prefix": "a/*"}, values) is True


def test_if_exists_is_true_for_an_absent_key_and_plain_otherwise() -> None:
    """AWS ...IfExists: true when the key is absent, the base operator when present (extension: our
    evaluator).
    """
    assert evaluate_operator("StringEqualsIfExists", {"s3:prefix": "a/"}, {"s3:prefix": None}) is True
    assert evaluate_operator("StringEqualsIfExists", {"aws:RequestedRegion": "eu-west-1"}, NOW) is False
    assert evaluate_operator("DateLessThanIfExists", {"aws:CurrentTime": "2099-01-01T00:00:00Z"}, NOW) is True


def test_an_unparseable_date_proves_nothing() -> None:
    """A date AWS would not parse must not silently allow or silently spare a Deny (extension: our
    evaluator).
    """
    assert evaluate_operator("DateLessThan", {"aws:CurrentTime": "next tuesday"}, NOW) is None


def test_kleene_and_lets_a_definite_false_decide() -> None:
    """One definitely false condition decides; an unknown one only leaves the answer open (extension:
    our evaluator).
    """
    assert kleene_and([True, None, False]) is False
    assert kleene_and([True, None]) is None
    assert kleene_and([True, True]) is True


def test_glob_stars_span_any_characters_and_question_marks_exactly_one() -> None:
    """IAM wildcards: '*' crosses '/' and ':', '?' is a single character (extension: our evaluator)."""
    assert glob_matches("arn:aws:s3:::reports/*", "arn:aws:s3:::reports/a/b.csv")
    assert not glob_matches("arn:aws:s3:::reports/?", "arn:aws:s3:::reports/ab")
    assert not glob_matches("arn:aws:s3:::reports*", "arn:aws:s3:::REPORTS")
    assert glob_matches("s3:get*", "s3:GetObject", ignore_case=True)
    assert not glob_matches("a.c", "abc")  # regex metacharacters are literal


def test_parse_time_reads_iso_naive_and_epoch_as_utc() -> None:
    """IAM dates may be ISO 8601 (with or without zone) or epoch seconds; all UTC (extension: our
    evaluator).
    """
    assert parse_time("2025-06-01T12:00:00Z") == parse_time("2025-06-01T12:00:00")
    assert parse_time("1748779200") == parse_time("2025-06-01T12:00:00+00:00")
    assert parse_time("soon") is None
