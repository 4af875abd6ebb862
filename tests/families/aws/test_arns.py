from __future__ import annotations

import pytest

from cloud_broker.families.aws.arns import resource_problem

ACCOUNT = "123456789012"


@pytest.mark.parametrize(
    "resource",
    [
        "*",
        "arn:aws:s3:::reports/*",
        "arn:aws:dynamodb:us-east-1:123456789012:table/orders",
        "arn:aws:logs:*:123456789012:log-group:/app/x:*",
        "arn:aws:sqs:eu-west-1:*:queue-?",
        "arn:aws:lambda:ap-southeast-7:12345678901?:function:f",
        "arn:aws:*:*:*:*",
    ],
)
def test_star_and_arns_of_this_account_are_well_formed(resource: str) -> None:
    assert resource_problem(resource, ACCOUNT) is None


@pytest.mark.parametrize(
    ("resource", "problem"),
    [
        ("", "is malformed"),
        ("reports", "is malformed"),
        ("arn:aws:s3", "is malformed"),
        ("arn:aws:s3:*", "is malformed"),  # the * would otherwise reach every account
        ("arn:aws-cn:s3:::reports", "partition 'aws-cn' (China) is not supported"),
        ("arn:aws-us-gov:s3:::reports", "partition 'aws-us-gov' (GovCloud (US)) is not supported"),
        ("arn:aws:lambda:us-gov-west-1:123456789012:function:f", "region 'us-gov-west-1' belongs to another partition"),
        ("arn:aws:sqs:cn-north-1:123456789012:q", "region 'cn-north-1' belongs to another partition"),
        ("arn:*:s3:::reports", "partition '*'"),
        ("ARN:aws:s3:::reports", "is malformed"),
        ("arn:aws::us-east-1:123456789012:x", "service segment"),
        ("arn:aws:sqs:moon-base-1:123456789012:q", "region segment 'moon-base-1'"),
        ("arn:aws:s3:::", "resource segment is empty"),
        ("arn:aws:s3:::reports /x", "whitespace"),
    ],
)
def test_malformed_resources_say_what_is_wrong(resource: str, problem: str) -> None:
    found = resource_problem(resource, ACCOUNT)
    assert found is not None and problem in found


@pytest.mark.parametrize(
    "resource",
    ["arn:aws:sqs:us-east-1:999999999999:q", "arn:aws:sqs:us-east-1:9999*:q", "arn:aws:eks::aws:cluster-access-policy/x"],
)
def test_resources_of_another_account_are_named(resource: str) -> None:
    found = resource_problem(resource, ACCOUNT)
    assert found is not None and found.startswith("names account")
