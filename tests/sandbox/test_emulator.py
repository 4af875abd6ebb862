"""The seeded world, and IAM enforcement being on for every request after seeding."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import settings

from cloud_broker.sandbox.emulator import Emulator

UNKNOWN = {"aws_access_key_id": "AKIA" + "UNKNOWNKEY123456", "aws_secret_access_key": "not-a-real-secret"}


def test_the_source_credentials_are_the_cloud_broker_user(source_sts: Any, emulator: Emulator) -> None:
    """The broker signs STS calls as an IAM user of the emulated account (seeded; stock moto)."""
    identity = source_sts.get_caller_identity()
    assert identity["Account"] == emulator.account_id == "123456789012"
    assert identity["Arn"] == "arn:aws:iam::123456789012:user/cloud-broker"
    assert emulator.role_arn == "arn:aws:iam::123456789012:role/cloud-broker-agent"
    assert emulator.region == "us-east-1"


def test_an_assumed_session_is_the_agent_role(
    assume: Callable[..., Any], client_as: Callable[..., Any]
) -> None:
    """AssumeRole yields credentials whose caller is the role session (moto honours the name)."""
    identity = client_as("sts", assume(RoleSessionName="grant-123")).get_caller_identity()
    assert identity["Arn"] == "arn:aws:sts::123456789012:assumed-role/cloud-broker-agent/grant-123"


@pytest.mark.parametrize(
    ("service", "expected"), [("s3", "InvalidAccessKeyId"), ("sts", "InvalidClientTokenId")]
)
def test_an_unknown_access_key_is_refused(emulator: Emulator, service: str, expected: str) -> None:
    """AWS refuses keys it does not know; enforcement must be on after seeding (stock moto; checked as
    seeding ran with auth off).
    """
    client = boto3.client(service, endpoint_url=emulator.endpoint_url, region_name=emulator.region, **UNKNOWN)
    call = client.list_buckets if service == "s3" else client.get_caller_identity
    with pytest.raises(ClientError) as refused:
        call()
    assert refused.value.response["Error"]["Code"] == expected


def test_the_source_user_cannot_use_the_role_s_permissions_itself(emulator: Emulator) -> None:
    """The broker's own key may only assume the role; reading data needs minted credentials (stock moto)."""
    s3 = boto3.client(
        "s3",
        endpoint_url=emulator.endpoint_url,
        region_name=emulator.region,
        aws_access_key_id=emulator.source_access_key_id,
        aws_secret_access_key=emulator.source_secret_access_key,
    )
    with pytest.raises(ClientError) as refused:
        s3.get_object(Bucket="reports", Key="today.csv")
    assert refused.value.response["Error"]["Code"] == "AccessDenied"


@pytest.mark.parametrize("path", ["/reports/today.csv", "/reports", "/"])
def test_an_unsigned_request_is_forbidden(emulator: Emulator, path: str) -> None:
    """AWS answers 403 to unsigned requests (moto answered 500; extended)."""
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(emulator.endpoint_url + path, timeout=10)
    assert refused.value.code == 403


def test_iam_enforcement_is_on_from_the_first_request(emulator: Emulator) -> None:
    """Seeding ran with auth off; afterwards moto's no-auth allowance is zero."""
    assert settings.INITIAL_NO_AUTH_ACTION_COUNT == 0


def test_repr_shows_no_credentials(emulator: Emulator) -> None:
    """Fake or not, keys are never printed (not an AWS behaviour)."""
    text = repr(emulator)
    assert emulator.source_access_key_id not in text
    assert emulator.source_secret_access_key not in text
    assert emulator.endpoint_url in text


_START_AND_STOP = """
from moto import settings
from cloud_broker.sandbox import assume_role_validation, session_policy_enforcement
from cloud_broker.sandbox.emulator import start_emulator
with start_emulator() as emulator:
    assert session_policy_enforcement.is_installed() and assume_role_validation.is_installed()
    assert settings.INITIAL_NO_AUTH_ACTION_COUNT == 0
print(settings.INITIAL_NO_AUTH_ACTION_COUNT, session_policy_enforcement.is_installed(),
      assume_role_validation.is_installed())
"""


def test_stop_hands_moto_back_as_it_was() -> None:
    """Later in-process moto users (mock_aws) must meet stock moto: auth off, no patches.

    In a child process, because moto's state is process-wide and the package's
    emulator is running in this one.
    """
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("INITIAL_NO_AUTH_ACTION_COUNT", None)
    result = subprocess.run(
        [sys.executable, "-c", _START_AND_STOP],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["inf", "False", "False"]
