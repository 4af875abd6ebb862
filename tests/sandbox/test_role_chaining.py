"""Role chaining is capped at one hour, as in AWS (moto accepted any duration).

AWS (IAM User Guide, "Methods to assume a role" / role chaining): when the caller's
credentials are themselves a role session, AssumeRole's DurationSeconds may not exceed
3,600 whatever the target role's MaxSessionDuration; more is a ValidationError.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from cloud_broker.sandbox.emulator import SOURCE_USER, Emulator

from .support import allow, policy, trust_source_user

Assume = Callable[..., dict[str, str]]
ClientAs = Callable[..., Any]
FIRST, TARGET = "sandbox-test-chain-first", "sandbox-test-chain-target"


@pytest.fixture(scope="module")
def target_arn(as_admin: Callable[..., Any], emulator: Emulator) -> str:
    """A 12-hour role that trusts both the broker user and one session of the first-hop role."""
    account = emulator.account_id
    trust = policy(
        {
            "Effect": "Allow",
            "Principal": {
                "AWS": [
                    f"arn:aws:iam::{account}:user/{SOURCE_USER}",
                    f"arn:aws:sts::{account}:assumed-role/{FIRST}/hop",
                ]
            },
            "Action": "sts:AssumeRole",
        }
    )

    def create(iam: Any) -> str:
        arn = str(
            iam.create_role(RoleName=TARGET, AssumeRolePolicyDocument=trust, MaxSessionDuration=43200)[
                "Role"
            ]["Arn"]
        )
        iam.put_role_policy(RoleName=TARGET, PolicyName="own", PolicyDocument=policy(allow("s3:*", "*")))
        iam.put_user_policy(
            UserName=SOURCE_USER,
            PolicyName=f"assume-{TARGET}",
            PolicyDocument=policy(allow("sts:AssumeRole", arn)),
        )
        return arn

    return str(as_admin(create))


@pytest.fixture(scope="module")
def chained_sts(
    target_arn: str, create_role: Callable[..., str], assume: Assume, client_as: ClientAs, emulator: Emulator
) -> Any:
    """STS signed with a role session (the first hop) that may assume the target role."""
    first_arn = create_role(
        FIRST,
        trust=trust_source_user(emulator.account_id),
        role_policy=policy(allow("sts:AssumeRole", target_arn)),
    )
    return client_as("sts", assume(role_arn=first_arn, RoleSessionName="hop"))


def lifetime(response: dict[str, Any]) -> timedelta:
    return response["Credentials"]["Expiration"] - datetime.now(UTC)  # type: ignore[no-any-return]


def test_a_chained_session_longer_than_an_hour_is_a_validation_error(
    chained_sts: Any, target_arn: str
) -> None:
    """AWS refuses DurationSeconds above 3,600 for a chained AssumeRole, even for a 12-hour role
    (extension)."""
    with pytest.raises(ClientError) as refused:
        chained_sts.assume_role(RoleArn=target_arn, RoleSessionName="second", DurationSeconds=3601)
    error = refused.value.response["Error"]
    assert error["Code"] == "ValidationError"
    assert "role chaining" in error["Message"]


def test_a_chained_session_of_exactly_an_hour_is_accepted(chained_sts: Any, target_arn: str) -> None:
    """The cap is inclusive: 3,600 seconds is allowed (the extension must not over-refuse)."""
    response = chained_sts.assume_role(RoleArn=target_arn, RoleSessionName="second", DurationSeconds=3600)
    assert timedelta(minutes=59) < lifetime(response) <= timedelta(hours=1)


def test_a_chained_session_without_a_duration_lasts_the_default_hour(
    chained_sts: Any, target_arn: str
) -> None:
    """AWS's default is one hour, which is also the chaining maximum."""
    response = chained_sts.assume_role(RoleArn=target_arn, RoleSessionName="second")
    assert timedelta(minutes=59) < lifetime(response) <= timedelta(hours=1)


def test_the_same_role_assumed_directly_may_last_longer(source_sts: Any, target_arn: str) -> None:
    """Only chaining is capped: the broker's own user may take the role's full 12 hours."""
    response = source_sts.assume_role(RoleArn=target_arn, RoleSessionName="direct", DurationSeconds=43200)
    assert lifetime(response) > timedelta(hours=11, minutes=59)
