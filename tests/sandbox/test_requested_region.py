"""aws:RequestedRegion is us-east-1 for global services, whatever Region the SDK signed for.

AWS (IAM User Guide, "AWS: Denies access to AWS based on the requested Region"): IAM,
CloudFront, Route 53, Support … have one endpoint in us-east-1 and every request to them
is made to us-east-1. The emulator has one endpoint for everything and the SDK signs for
the client's Region, so the extension used to take an eu-west-1 signature at its word.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from cloud_broker.sandbox.emulator import Emulator

from .support import allow, deny, policy, trust_source_user

Assume = Callable[..., dict[str, str]]
ClientAs = Callable[..., Any]
ROLE = "sandbox-test-iam-reader"


def error_code(call: Callable[[], Any]) -> str:
    with pytest.raises(ClientError) as refused:
        call()
    return str(refused.value.response["Error"]["Code"])


@pytest.fixture(scope="module")
def iam_reader(create_role: Callable[..., str], emulator: Emulator) -> str:
    """A role that may read IAM; sessions narrow it by Region."""
    return create_role(
        ROLE,
        trust=trust_source_user(emulator.account_id),
        role_policy=policy(allow(["iam:Get*", "iam:List*"], "*")),
    )


def list_roles_grant(region: str) -> str:
    return policy(allow("iam:ListRoles", "*", StringEquals={"aws:RequestedRegion": region}))


def test_an_iam_grant_for_us_east_1_works_from_a_client_configured_for_another_region(
    assume: Assume, client_as: ClientAs, iam_reader: str
) -> None:
    """AWS: an IAM call is made to us-east-1 even from an eu-west-1 client (extension)."""
    iam = client_as("iam", assume(list_roles_grant("us-east-1"), role_arn=iam_reader), region="eu-west-1")
    assert ROLE in [role["RoleName"] for role in iam.list_roles()["Roles"]]


def test_an_iam_grant_for_another_region_never_applies(
    assume: Assume, client_as: ClientAs, iam_reader: str
) -> None:
    """AWS: no IAM request is ever made to eu-west-1, so such a grant allows nothing (extension)."""
    iam = client_as("iam", assume(list_roles_grant("eu-west-1"), role_arn=iam_reader), region="eu-west-1")
    assert error_code(iam.list_roles) == "AccessDenied"


def test_a_region_deny_cannot_be_dodged_by_signing_iam_for_an_allowed_region(
    assume: Assume, client_as: ClientAs, iam_reader: str
) -> None:
    """The AWS example 'deny outside eu-west-1' also denies IAM unless IAM is exempted with NotAction;
    signing for eu-west-1 must not slip past it (extension)."""
    grant = policy(
        allow("iam:ListRoles", "*"),
        deny("*", "*", StringNotEquals={"aws:RequestedRegion": "eu-west-1"}),
    )
    iam = client_as("iam", assume(grant, role_arn=iam_reader), region="eu-west-1")
    assert error_code(iam.list_roles) == "AccessDenied"
    exempted = policy(
        allow("iam:ListRoles", "*"),
        {
            "Effect": "Deny",
            "NotAction": ["iam:*", "cloudfront:*", "route53:*", "support:*"],
            "Resource": "*",
            "Condition": {"StringNotEquals": {"aws:RequestedRegion": "eu-west-1"}},
        },
    )
    assert client_as("iam", assume(exempted, role_arn=iam_reader), region="eu-west-1").list_roles()["Roles"]


def test_a_regional_service_still_sees_the_signing_region(assume: Assume, client_as: ClientAs) -> None:
    """S3 is Regional: an eu-west-1 signature is an eu-west-1 request (unchanged)."""
    grant = policy(
        allow("s3:GetObject", "arn:aws:s3:::reports/*", StringEquals={"aws:RequestedRegion": "eu-west-1"})
    )
    assert client_as("s3", assume(grant), region="eu-west-1").get_object(Bucket="reports", Key="today.csv")
