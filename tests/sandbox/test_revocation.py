"""The refusals per-grant revocation relies on: a deny in the role's own policy, written later.

STS credentials cannot be revoked through STS, but IAM evaluates the role's policies on
every request (IAM User Guide, "Revoking IAM role temporary security credentials"): a
``Deny`` added to the role cuts sessions off. It can name one session by ``aws:userid``
(``ROLE_ID:session-name`` for a role session, IAM User Guide "AWS global condition
context keys") or all sessions issued before a moment by ``aws:TokenIssueTime``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from cloud_broker.sandbox.emulator import Emulator

from .support import allow, deny, policy, trust_source_user

Assume = Callable[..., dict[str, str]]
ClientAs = Callable[..., Any]
AsAdmin = Callable[[Callable[[Any], Any]], Any]


def refused(s3: Any) -> bool:
    """Whether reading the seeded report is AccessDenied (any other failure is a test error)."""
    try:
        s3.get_object(Bucket="reports", Key="today.csv")
    except ClientError as error:
        assert error.response["Error"]["Code"] == "AccessDenied"
        return True
    return False


@pytest.fixture
def new_role(
    create_role: Callable[..., str], as_admin: AsAdmin, emulator: Emulator
) -> Callable[[str], tuple[str, str]]:
    """Create a role that may s3:*; returns its ARN and RoleId."""

    def _create(name: str) -> tuple[str, str]:
        arn = create_role(
            name, trust=trust_source_user(emulator.account_id), role_policy=policy(allow("s3:*", "*"))
        )
        return arn, str(as_admin(lambda iam: iam.get_role(RoleName=name))["Role"]["RoleId"])

    return _create


def put_revocation(as_admin: AsAdmin, role: str, document: str) -> None:
    as_admin(lambda iam: iam.put_role_policy(RoleName=role, PolicyName="revoke", PolicyDocument=document))


def test_aws_userid_of_a_role_session_is_role_id_and_session_name(
    new_role: Callable[[str], tuple[str, str]], source_sts: Any, client_as: ClientAs
) -> None:
    """What AWS reports as AssumedRoleId and as the caller's UserId is the aws:userid deny matches."""
    role_arn, role_id = new_role("sandbox-test-userid-shape")
    response = source_sts.assume_role(RoleArn=role_arn, RoleSessionName="cb-g-1")
    assert role_id.startswith("AROA")
    assert response["AssumedRoleUser"]["AssumedRoleId"] == f"{role_id}:cb-g-1"
    credentials = {key: str(value) for key, value in response["Credentials"].items()}
    assert client_as("sts", credentials).get_caller_identity()["UserId"] == f"{role_id}:cb-g-1"


def test_a_deny_on_role_id_and_session_name_cuts_off_that_session_only(
    new_role: Callable[[str], tuple[str, str]], assume: Assume, client_as: ClientAs, as_admin: AsAdmin
) -> None:
    """Deny * with StringLike aws:userid ROLE_ID:cb-<grant> refuses that grant's session and no other."""
    role = "sandbox-test-revoke-by-userid"
    role_arn, role_id = new_role(role)
    revoked = client_as("s3", assume(role_arn=role_arn, RoleSessionName="cb-grant-a"))
    kept = client_as("s3", assume(role_arn=role_arn, RoleSessionName="cb-grant-b"))
    put_revocation(as_admin, role, policy(deny("*", "*", StringLike={"aws:userid": f"{role_id}:cb-grant-a"})))
    assert refused(revoked)
    assert not refused(kept)


def test_a_deny_naming_another_role_id_spares_a_session_of_the_same_name(
    new_role: Callable[[str], tuple[str, str]], assume: Assume, client_as: ClientAs, as_admin: AsAdmin
) -> None:
    """The role id is part of the match: a revocation written for role X does not hit role Y's session."""
    role = "sandbox-test-revoke-other-id"
    role_arn, _ = new_role(role)
    _, other_role_id = new_role("sandbox-test-revoke-other-id-2")
    session = client_as("s3", assume(role_arn=role_arn, RoleSessionName="cb-grant-a"))
    put_revocation(
        as_admin, role, policy(deny("*", "*", StringLike={"aws:userid": f"{other_role_id}:cb-grant-a"}))
    )
    assert not refused(session)


def test_a_deny_on_token_issue_time_cuts_off_sessions_issued_before_the_moment_only(
    new_role: Callable[[str], tuple[str, str]], assume: Assume, client_as: ClientAs, as_admin: AsAdmin
) -> None:
    """DateLessThan aws:TokenIssueTime t denies sessions issued before t, not after -- even when
    both fall in the same second as t (the emulator used to round issue times down to the second)."""
    role = "sandbox-test-revoke-by-issue-time"
    role_arn, _ = new_role(role)
    before = client_as("s3", assume(role_arn=role_arn, RoleSessionName="cb-before"))
    moment = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # W3C date-time, fractional seconds
    after = client_as("s3", assume(role_arn=role_arn, RoleSessionName="cb-after"))
    put_revocation(as_admin, role, policy(deny("*", "*", DateLessThan={"aws:TokenIssueTime": moment})))
    assert refused(before)
    assert not refused(after)


def test_putting_and_deleting_a_role_policy_takes_effect_on_the_next_request(
    new_role: Callable[[str], tuple[str, str]], assume: Assume, client_as: ClientAs, as_admin: AsAdmin
) -> None:
    """An existing session is decided with the role's policies as they are now, request by request."""
    role = "sandbox-test-revoke-live"
    role_arn, _ = new_role(role)
    s3 = client_as("s3", assume(role_arn=role_arn, RoleSessionName="cb-live"))
    assert not refused(s3)
    put_revocation(as_admin, role, policy(deny("*", "*")))
    assert refused(s3)
    as_admin(lambda iam: iam.delete_role_policy(RoleName=role, PolicyName="revoke"))
    assert not refused(s3)
    as_admin(lambda iam: iam.delete_role_policy(RoleName=role, PolicyName="own"))
    assert refused(s3)  # nothing allows any more: an implicit deny, on the very next request
