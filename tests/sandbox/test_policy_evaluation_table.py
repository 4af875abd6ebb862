"""The emulator decides every documented policy-evaluation case as AWS documents it.

The rows live in :mod:`tests.sandbox.aws_documented_cases`, each with the AWS page it
comes from. Two runs: end to end (a role with the row's identity policy, assumed by the
seeded broker user with the row's session policy, the request made with boto3: success or
AccessDenied), and against ``policy_evaluator.is_allowed`` with the request context AWS
would build -- the only way to reach keys such as aws:SourceIp or aws:TagKeys.
A fail-closed denial where AWS allows counts as a disagreement.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from cloud_broker.sandbox.emulator import Emulator
from cloud_broker.sandbox.policy_evaluator import Request, is_allowed

from .aws_documented_cases import (
    ACCOUNT,
    PUT_KEY,
    PUT_REPORT,
    ROLE_PREFIX,
    ROWS,
    SESSION_NAME,
    ContextValue,
    Row,
)
from .support import policy, trust_source_user

E2E_ROWS = [row for row in ROWS if row.e2e]


def test_the_table_names_its_sources_and_covers_both_outcomes() -> None:
    """A table of only denials (or only allows) would prove little."""
    assert all(row.source for row in ROWS)
    assert len({row.name for row in ROWS}) == len(ROWS)
    assert {row.allowed for row in E2E_ROWS} == {True, False}
    assert {row.allowed for row in ROWS if not row.e2e} == {True, False}


def aws_context(row: Row, role_name: str, now: datetime) -> dict[str, ContextValue]:
    """The request context AWS documents for a role session's request (AWS global condition context keys)."""
    moment = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "aws:currenttime": moment,
        "aws:epochtime": str(int(now.timestamp())),
        "aws:tokenissuetime": moment,
        "aws:requestedregion": row.requested_region,
        "aws:principalarn": f"arn:aws:iam::{ACCOUNT}:role/{role_name}",
        "aws:principalaccount": ACCOUNT,
        "aws:principaltype": "AssumedRole",
        "aws:userid": f"AROAEXAMPLEROLEID:{SESSION_NAME}",
        "aws:username": None,
        "aws:viaawsservice": "false",
        "aws:principalisawsservice": "false",
        **row.op.context,
        **row.context,
    }


def session_policy(row: Row) -> str | None:
    return None if row.session is None else policy(*row.session)


@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
def test_the_evaluator_agrees_with_aws(row: Row) -> None:
    """policy_evaluator.is_allowed gives the documented outcome, context as AWS builds it."""
    request = Request(
        row.op.action, row.op.resource, aws_context(row, ROLE_PREFIX + row.name, datetime.now(UTC))
    )
    assert is_allowed(request, [policy(*row.role)], session_policy(row)) is row.allowed


@pytest.fixture(scope="module")
def unrestricted_s3(assume: Callable[..., dict[str, str]], client_as: Callable[..., Any]) -> Any:
    """S3 as a session of the seeded role without a session policy (s3:*), for clean-up."""
    return client_as("s3", assume())


def outcome(call: Callable[[], Any]) -> bool:
    """True when the emulator served the request, False when it answered AccessDenied."""
    try:
        call()
    except ClientError as refused:
        assert refused.response["Error"]["Code"] == "AccessDenied", refused.response["Error"]
        return False
    return True


@pytest.mark.parametrize("row", E2E_ROWS, ids=[row.name for row in E2E_ROWS])
def test_the_emulator_agrees_with_aws(
    row: Row,
    create_role: Callable[..., str],
    assume: Callable[..., dict[str, str]],
    client_as: Callable[..., Any],
    emulator: Emulator,
    unrestricted_s3: Any,
) -> None:
    """End to end through boto3: the documented outcome, success or AccessDenied."""
    role_arn = create_role(
        ROLE_PREFIX + row.name, trust=trust_source_user(emulator.account_id), role_policy=policy(*row.role)
    )
    credentials = assume(session_policy(row), role_arn=role_arn, RoleSessionName=SESSION_NAME)
    client = client_as(row.op.service, credentials, region=row.region)
    try:
        assert outcome(lambda: row.op.call(client)) is row.allowed
    finally:
        if row.op is PUT_REPORT:
            unrestricted_s3.delete_object(Bucket="reports", Key=PUT_KEY)
