"""Ways to act inside the seeded emulator (the ``emulator`` fixture is the session-wide one
of ``tests/conftest.py``: moto keeps process-wide globals, so there is one per process).

The emulator is shared with other test folders: tests here create uniquely named roles
and leave the seeded objects as they found them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import pytest
from moto.core.authorization import disable_iam_authentication

from cloud_broker.sandbox.emulator import SOURCE_USER, Emulator

from .support import allow, policy

Credentials = dict[str, str]


@pytest.fixture(scope="session")
def source_sts(emulator: Emulator) -> Any:
    """STS as the broker itself: signed with the seeded source user's key."""
    return boto3.client(
        "sts",
        endpoint_url=emulator.endpoint_url,
        region_name=emulator.region,
        aws_access_key_id=emulator.source_access_key_id,
        aws_secret_access_key=emulator.source_secret_access_key,
    )


@pytest.fixture(scope="session")
def assume(source_sts: Any, emulator: Emulator) -> Callable[..., Credentials]:
    """Mint role credentials as the broker would; ``policy`` is the session policy."""

    def _assume(policy: str | None = None, *, role_arn: str | None = None, **extra: Any) -> Credentials:
        params: dict[str, Any] = {"RoleArn": role_arn or emulator.role_arn, "RoleSessionName": "agent-test"}
        if policy is not None:
            params["Policy"] = policy
        response = source_sts.assume_role(**{**params, **extra})
        return {key: str(value) for key, value in response["Credentials"].items()}

    return _assume


@pytest.fixture(scope="session")
def client_as(emulator: Emulator) -> Callable[..., Any]:
    """A boto3 client of ``service`` signed with minted credentials."""

    def _client(service: str, credentials: Credentials, *, region: str | None = None) -> Any:
        return boto3.client(
            service,
            endpoint_url=emulator.endpoint_url,
            region_name=region or emulator.region,
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )

    return _client


@pytest.fixture(scope="session")
def as_admin(emulator: Emulator) -> Callable[[Callable[[Any], Any]], Any]:
    """Run ``action(iam)`` as an account administrator would (moto's IAM auth briefly off)."""
    iam = boto3.client(
        "iam",
        endpoint_url=emulator.endpoint_url,
        region_name=emulator.region,
        aws_access_key_id="admin",
        aws_secret_access_key="admin",
    )

    def _run(action: Callable[[Any], Any]) -> Any:
        with disable_iam_authentication():
            return action(iam)

    return _run


@pytest.fixture(scope="session")
def create_role(as_admin: Callable[[Callable[[Any], Any]], Any]) -> Callable[..., str]:
    """Create an extra role, with its own trust and role policy, that the source user may assume."""

    def _create(name: str, *, trust: str, role_policy: str) -> str:
        def create(iam: Any) -> str:
            arn = str(iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)["Role"]["Arn"])
            iam.put_role_policy(RoleName=name, PolicyName="own", PolicyDocument=role_policy)
            iam.put_user_policy(
                UserName=SOURCE_USER,
                PolicyName=f"assume-{name}",
                PolicyDocument=policy(allow(["sts:AssumeRole", "sts:TagSession"], arn)),
            )
            return arn

        return str(as_admin(create))

    return _create
