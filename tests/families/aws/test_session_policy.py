from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from cloud_broker.errors import BrokerError
from cloud_broker.families.aws.catalogue import Catalogue
from cloud_broker.families.aws.request import AwsAccessRequest
from cloud_broker.families.aws.session_policy import (
    SESSION_POLICY_LIMIT,
    NothingGranted,
    SessionPolicyTooLarge,
    build_session_policy,
)

ACCOUNT = "123456789012"
EXPIRES_AT = datetime(2025, 6, 1, 12, 15, 0, tzinfo=UTC)
REPORTS = ("arn:aws:s3:::reports", "arn:aws:s3:::reports/*")


def request(actions: tuple[str, ...], resources: tuple[str, ...] = REPORTS, regions: tuple[str, ...] = ("us-east-1",)) -> AwsAccessRequest:
    return AwsAccessRequest(ACCOUNT, actions, resources, regions, timedelta(seconds=900))


def build(catalogue: Catalogue, req: AwsAccessRequest, expires_at: datetime = EXPIRES_AT) -> dict[str, Any]:
    text = build_session_policy(req, expires_at=expires_at, catalogue=catalogue)
    assert text == json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False)  # compact
    return json.loads(text)


def grants(policy: dict[str, Any]) -> list[tuple[list[str], list[str]]]:
    return [(s["Action"], s["Resource"]) for s in policy["Statement"]]


def test_worked_example_allows_each_action_only_where_it_applies(catalogue: Catalogue) -> None:
    policy = build(catalogue, request(("s3:GetObject", "s3:ListBucket")))
    assert policy["Version"] == "2012-10-17"
    assert grants(policy) == [
        (["s3:GetObject"], ["arn:aws:s3:::reports/*"]),  # an object action on the bucket grants nothing
        (["s3:ListBucket"], list(REPORTS)),
    ]


def test_every_statement_is_bounded_by_region_and_expiry(catalogue: Catalogue) -> None:
    policy = build(catalogue, request(("s3:GetObject", "s3:ListBucket"), regions=("us-east-1", "eu-west-1")))
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        assert statement["Condition"] == {
            "StringEquals": {"aws:RequestedRegion": ["us-east-1", "eu-west-1"]},
            "DateLessThan": {"aws:CurrentTime": "2025-06-01T12:15:00Z"},
        }


def test_expiry_is_written_in_utc_and_rounded_down_to_the_second(catalogue: Catalogue) -> None:
    plus_two = timezone(timedelta(hours=2))
    policy = build(catalogue, request(("s3:GetObject",)), datetime(2025, 6, 1, 14, 15, 0, 999_999, tzinfo=plus_two))
    assert policy["Statement"][0]["Condition"]["DateLessThan"]["aws:CurrentTime"] == "2025-06-01T12:15:00Z"


def test_naive_expiry_is_refused(catalogue: Catalogue) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        build_session_policy(request(("s3:GetObject",)), expires_at=datetime(2025, 6, 1), catalogue=catalogue)


def test_actions_sharing_a_resource_set_share_a_statement(catalogue: Catalogue) -> None:
    policy = build(catalogue, request(("s3:GetObject", "s3:PutObject", "s3:ListBucket")))
    assert grants(policy) == [(["s3:GetObject", "s3:PutObject"], ["arn:aws:s3:::reports/*"]), (["s3:ListBucket"], list(REPORTS))]


def test_a_requested_pattern_is_granted_as_written_not_expanded(catalogue: Catalogue) -> None:
    policy = build(catalogue, request(("s3:Get*",)))
    assert grants(policy) == [(["s3:Get*"], list(REPORTS))]


def test_a_concrete_action_inside_a_requested_pattern_is_not_repeated(catalogue: Catalogue) -> None:
    policy = build(catalogue, request(("s3:Get*", "s3:GetObject", "s3:PutObject")))
    assert grants(policy) == [(["s3:Get*"], list(REPORTS)), (["s3:PutObject"], ["arn:aws:s3:::reports/*"])]


def test_concrete_names_are_written_in_canonical_case_once(catalogue: Catalogue) -> None:
    policy = build(catalogue, request(("S3:GETOBJECT", "s3:getobject"), ("arn:aws:s3:::reports/*",)))
    assert grants(policy) == [(["s3:GetObject"], ["arn:aws:s3:::reports/*"])]


def test_pairs_that_grant_nothing_are_dropped(catalogue: Catalogue) -> None:
    req = request(("s3:GetObject", "s3:ListAllMyBuckets"), ("arn:aws:s3:::reports/*", "arn:aws:s3:::other"))
    assert grants(build(catalogue, req)) == [(["s3:GetObject"], ["arn:aws:s3:::reports/*"])]


def test_a_resource_contained_in_another_is_not_repeated(catalogue: Catalogue) -> None:
    req = request(("s3:GetObject",), ("arn:aws:s3:::reports/2024/*", "arn:aws:s3:::reports/*", "arn:aws:s3:::reports/**"))
    assert grants(build(catalogue, req)) == [(["s3:GetObject"], ["arn:aws:s3:::reports/*"])]


def test_star_only_actions_are_granted_on_star(catalogue: Catalogue) -> None:
    policy = build(catalogue, request(("s3:ListAllMyBuckets",), ("*",)))
    assert grants(policy) == [(["s3:ListAllMyBuckets"], ["*"])]


def test_a_request_that_grants_nothing_has_no_policy(catalogue: Catalogue) -> None:
    with pytest.raises(NothingGranted):
        build_session_policy(request(("s3:ListAllMyBuckets",)), expires_at=EXPIRES_AT, catalogue=catalogue)


def test_a_policy_over_the_aws_limit_is_refused_with_its_length(catalogue: Catalogue) -> None:
    resources = tuple(f"arn:aws:s3:::reports/{n:04d}/*" for n in range(100))
    with pytest.raises(SessionPolicyTooLarge) as caught:
        build_session_policy(request(("s3:GetObject",), resources), expires_at=EXPIRES_AT, catalogue=catalogue)
    assert caught.value.length > SESSION_POLICY_LIMIT
    assert isinstance(caught.value, BrokerError)
    assert caught.value.code == "SESSION_POLICY_TOO_LARGE"
    assert "SESSION_POLICY_TOO_LARGE: session policy would be" in caught.value.text


def test_a_policy_at_the_limit_is_accepted(catalogue: Catalogue) -> None:
    base = len(build_session_policy(request(("s3:GetObject",), ("arn:aws:s3:::r/*",)), expires_at=EXPIRES_AT, catalogue=catalogue))
    padded = "arn:aws:s3:::r" + "x" * (SESSION_POLICY_LIMIT - base) + "/*"
    text = build_session_policy(request(("s3:GetObject",), (padded,)), expires_at=EXPIRES_AT, catalogue=catalogue)
    assert len(text) == SESSION_POLICY_LIMIT
