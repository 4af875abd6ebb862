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
    "operator",
    ["stringequals", "StringMatches", "ForSomeValues:StringEquals", "NullIfExists", "ForAnyValue:Null"],
)
def test_operators_outside_aws_grammar_are_unknown_not_satisfied(operator: str) -> None:
    """moto treats unknown operators as satisfied; the extension answers 'unknown' (fail closed)."""
    assert evaluate_operator(operator, {"aws:RequestedRegion": "us-east-1"}, NOW) is None


@pytest.mark.parametrize(
    ("operator", "value"),
    [
        ("NumericLessThan", "us-east-1"),
        ("Bool", "us-east-1"),
        ("IpAddress", "us-east-1"),
        ("Null", "maybe"),
        ("DateLessThan", "soon"),
        ("ArnLike", "not-an-arn"),
    ],
)
def test_a_policy_value_of_the_wrong_type_proves_nothing(operator: str, value: str) -> None:
    """A value the operator cannot read neither allows nor spares a Deny (extension: fail closed)."""
    assert evaluate_operator(operator, {"aws:RequestedRegion": value}, NOW) is None


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


@pytest.mark.parametrize(
    ("operator", "value"),
    [
        ("StringNotEquals", "x"),
        ("StringNotEqualsIgnoreCase", "x"),
        ("StringNotLike", "x*"),
        ("NumericNotEquals", "1"),
        ("DateNotEquals", "2025-01-01T00:00:00Z"),
        ("NotIpAddress", "10.0.0.0/8"),
        ("ArnNotEquals", "arn:aws:iam::123456789012:role/x"),
        ("ArnNotLike", "arn:aws:iam::*:role/*"),
    ],
)
def test_every_negated_operator_is_true_for_an_absent_key(operator: str, value: str) -> None:
    """AWS ('Condition operators', Important): a key absent from the request makes a condition false,
    except negated operators, which are true (extension: our evaluator)."""
    assert evaluate_operator(operator, {"s3:prefix": value}, {"s3:prefix": None}) is True
    positive = operator.replace("Not", "", 1)
    assert evaluate_operator(positive, {"s3:prefix": value}, {"s3:prefix": None}) is False


@pytest.mark.parametrize(
    ("pattern", "arn", "expected"),
    [
        ("arn:aws:iam::*:role/*", "arn:aws:iam::123456789012:role/a:b", True),  # colons in the resource part
        ("arn:aws:iam::*:role/*", "arn:aws:sts::123456789012:assumed-role/a/b", False),
        ("arn:aws:iam::1234567890??:role/x", "arn:aws:iam::123456789012:role/x", True),
        ("arn:aws:iam::123456789012:role/x", "not-an-arn", False),
    ],
)
def test_arn_operators_match_each_component_separately(pattern: str, arn: str, expected: bool) -> None:
    """AWS ArnLike/ArnEquals: the six colon-delimited components are matched one by one (extension)."""
    values = {"aws:principalarn": arn}
    assert evaluate_operator("ArnLike", {"aws:PrincipalArn": pattern}, values) is expected
    assert evaluate_operator("ArnEquals", {"aws:PrincipalArn": pattern}, values) is expected
    assert evaluate_operator("ArnNotLike", {"aws:PrincipalArn": pattern}, values) is (not expected)


@pytest.mark.parametrize(
    ("operator", "bound", "expected"),
    [
        ("NumericEquals", "10", True),
        ("NumericEquals", "10.0", True),  # numbers, not strings
        ("NumericLessThan", "9", False),
        ("NumericLessThanEquals", "10", True),
        ("NumericGreaterThan", "9.5", True),
        ("NumericNotEquals", ["9", "10"], False),
    ],
)
def test_numeric_operators_compare_numbers(operator: str, bound: object, expected: bool) -> None:
    """AWS Numeric* operators (extension: moto assumed them true)."""
    assert evaluate_operator(operator, {"s3:max-keys": bound}, {"s3:max-keys": "10"}) is expected


def test_ip_operators_accept_cidr_blocks_and_single_addresses() -> None:
    """AWS IpAddress: IPv4 or IPv6 CIDR (a bare address is a /32 or /128) (extension)."""
    values = {"aws:sourceip": "203.0.113.7"}
    assert evaluate_operator("IpAddress", {"aws:SourceIp": "203.0.113.0/24"}, values) is True
    assert evaluate_operator("IpAddress", {"aws:SourceIp": "203.0.113.7"}, values) is True
    assert evaluate_operator("IpAddress", {"aws:SourceIp": "2001:db8::/32"}, values) is False
    assert evaluate_operator("NotIpAddress", {"aws:SourceIp": ["10.0.0.0/8", "192.0.2.0/24"]}, values) is True


def test_null_tests_presence_only() -> None:
    """AWS Null: 'true' means the key is absent, 'false' that it is present (extension)."""
    assert evaluate_operator("Null", {"s3:prefix": "true"}, {"s3:prefix": None}) is True
    assert evaluate_operator("Null", {"s3:prefix": "false"}, {"s3:prefix": "a/"}) is True
    assert evaluate_operator("Null", {"s3:prefix": True}, {"s3:prefix": "a/"}) is False


@pytest.mark.parametrize(
    ("operator", "request_values", "expected"),
    [
        ("ForAllValues:StringEquals", ("a", "b"), True),
        ("ForAllValues:StringEquals", ("a", "z"), False),
        ("ForAllValues:StringEquals", None, True),  # documented: also true with no key
        ("ForAllValues:StringEquals", (), True),
        ("ForAnyValue:StringEquals", ("z", "a"), True),
        ("ForAnyValue:StringEquals", ("z",), False),
        ("ForAnyValue:StringEquals", None, False),
        ("ForAnyValue:StringEqualsIfExists", None, True),
        ("ForAllValues:StringNotEquals", ("x", "y"), True),  # every request value is none of a, b, c
        ("ForAnyValue:StringNotLike", ("a", "zz"), True),
        ("ForAnyValue:StringLike", ("zz", "b1"), True),
    ],
)
def test_set_operators_compare_request_sets_with_policy_sets(
    operator: str, request_values: tuple[str, ...] | None, expected: bool
) -> None:
    """AWS 'Set operators for multivalued context keys' (extension: moto knew neither qualifier)."""
    policy_values = ["a", "b", "c"] if "Like" not in operator else ["a", "b*"]
    values = {"aws:tagkeys": request_values}
    assert evaluate_operator(operator, {"aws:TagKeys": policy_values}, values) is expected


def test_a_plain_operator_on_a_multivalued_key_is_left_undecided() -> None:
    """AWS tells authors to qualify multivalued keys; unqualified, the emulator fails closed."""
    assert evaluate_operator("StringEquals", {"aws:TagKeys": "a"}, {"aws:tagkeys": ("a", "b")}) is None
