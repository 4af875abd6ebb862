"""AssumeRole refuses the inputs AWS refuses (moto accepts them all; extended)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from .support import allow, policy

Assume = Callable[..., dict[str, str]]


def error_code(call: Callable[[], Any]) -> str:
    with pytest.raises(ClientError) as refused:
        call()
    return str(refused.value.response["Error"]["Code"])


def test_duration_up_to_the_role_maximum_is_accepted(source_sts: Any, emulator: Any) -> None:
    """AWS allows up to the role's MaxSessionDuration (seeded at 12 h); moto sets Expiration from it."""
    response = source_sts.assume_role(
        RoleArn=emulator.role_arn, RoleSessionName="long", DurationSeconds=43200
    )
    lifetime = response["Credentials"]["Expiration"] - datetime.now(UTC)
    assert timedelta(hours=11, minutes=59) < lifetime <= timedelta(hours=12)


def test_duration_below_900_seconds_is_a_validation_error(emulator: Any) -> None:
    """AWS: at least 900 s. botocore refuses it client-side, so send it raw (extension)."""
    sts = boto3.client(
        "sts",
        endpoint_url=emulator.endpoint_url,
        region_name=emulator.region,
        aws_access_key_id=emulator.source_access_key_id,
        aws_secret_access_key=emulator.source_secret_access_key,
        config=Config(parameter_validation=False),
    )
    refused = lambda: sts.assume_role(RoleArn=emulator.role_arn, RoleSessionName="short", DurationSeconds=899)
    assert error_code(refused) == "ValidationError"


def test_duration_above_the_role_maximum_is_a_validation_error(assume: Assume) -> None:
    """AWS: DurationSeconds beyond MaxSessionDuration is refused; moto accepted any (extension)."""
    assert error_code(lambda: assume(DurationSeconds=43201)) == "ValidationError"


def test_a_session_policy_over_2048_characters_is_a_validation_error(assume: Assume) -> None:
    """AWS limits the plaintext session policy to 2,048 characters; moto had no limit (extension)."""
    oversized = policy(*[allow("s3:GetObject", f"arn:aws:s3:::reports/{i:04}/*") for i in range(60)])
    assert len(oversized) > 2048
    assert error_code(lambda: assume(oversized)) == "ValidationError"


@pytest.mark.parametrize("document", ["{not json", policy({"Effect": "Allow", "Action": "s3:*"})])
def test_a_malformed_session_policy_is_refused_at_assume_role(assume: Assume, document: str) -> None:
    """AWS rejects a malformed session policy with MalformedPolicyDocument (extension)."""
    assert error_code(lambda: assume(document)) == "MalformedPolicyDocument"


def test_more_than_50_session_tags_are_a_validation_error(assume: Assume) -> None:
    """AWS allows at most 50 session tags; moto ignored tags entirely (extension)."""
    tags = [{"Key": f"k{i}", "Value": "v"} for i in range(51)]
    assert error_code(lambda: assume(Tags=tags)) == "ValidationError"
    assert assume(Tags=tags[:50])["AccessKeyId"]


def test_an_over_long_session_tag_value_is_a_validation_error(assume: Assume) -> None:
    """AWS limits tag values to 256 characters (keys to 128) (extension)."""
    assert error_code(lambda: assume(Tags=[{"Key": "grant", "Value": "v" * 257}])) == "ValidationError"
    assert assume(Tags=[{"Key": "k" * 128, "Value": "v" * 256}])["AccessKeyId"]


def test_a_session_name_with_a_space_is_a_validation_error(assume: Assume) -> None:
    """AWS session names match [\\w+=,.@-]{2,64}; moto checked only the length (extension)."""
    assert error_code(lambda: assume(RoleSessionName="grant 123")) == "ValidationError"


def test_packed_policy_size_is_a_constant_in_moto(source_sts: Any, emulator: Any) -> None:
    """Not emulated: moto reports PackedPolicySize 6 whatever the policy; do not test limits with it."""
    response = source_sts.assume_role(
        RoleArn=emulator.role_arn, RoleSessionName="packed", Policy=policy(allow("s3:GetObject", "*"))
    )
    assert response["PackedPolicySize"] == 6
