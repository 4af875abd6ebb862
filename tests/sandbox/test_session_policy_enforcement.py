"""Role sessions in the running emulator are decided as AWS decides them.

Every refusal below is one stock moto would not make: it ignores the session policy,
assumes conditions true and never checks expiry. The emulator was extended for each.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto.sts.models import sts_backends

from cloud_broker.sandbox import session_policy_enforcement
from cloud_broker.sandbox.emulator import Emulator

from .support import PAST, allow, deny, minutes_from_now, policy, read_reports_grant, trust_source_user

Assume = Callable[..., dict[str, str]]
ClientAs = Callable[..., Any]


def error_code(call: Callable[[], Any]) -> str:
    with pytest.raises(ClientError) as refused:
        call()
    return str(refused.value.response["Error"]["Code"])


@pytest.fixture(scope="module")
def granted_s3(assume: Assume, client_as: ClientAs) -> Any:
    """S3 as an agent holding the typical grant: read reports/* in us-east-1 for a while."""
    return client_as("s3", assume(read_reports_grant(until=minutes_from_now(30))))


def test_the_granted_object_can_be_read(granted_s3: Any) -> None:
    """AWS allows what both the role and the session policy allow (conditions met) (extension: the
    session policy is now evaluated).
    """
    body = granted_s3.get_object(Bucket="reports", Key="today.csv")["Body"].read()
    assert body.startswith(b"date,region,revenue")


def test_writing_to_the_granted_bucket_is_access_denied(granted_s3: Any) -> None:
    """AWS: the role may s3:*, but the session policy grants no PutObject (extension)."""
    put = lambda: granted_s3.put_object(Bucket="reports", Key="new.csv", Body=b"x")
    assert error_code(put) == "AccessDenied"


def test_reading_another_bucket_is_access_denied(granted_s3: Any) -> None:
    """AWS: the session policy's Resource limits reads to reports/* (extension)."""
    assert error_code(lambda: granted_s3.get_object(Bucket="finance", Key="q3.csv")) == "AccessDenied"


def test_listing_the_bucket_is_denied_unless_granted(
    granted_s3: Any, assume: Assume, client_as: ClientAs
) -> None:
    """AWS: s3:ListBucket is its own action on the bucket ARN; a grant must name it (extension)."""
    assert error_code(lambda: granted_s3.list_objects_v2(Bucket="reports")) == "AccessDenied"
    listing = policy(allow("s3:ListBucket", "arn:aws:s3:::reports"))
    lister = client_as("s3", assume(listing))
    assert "today.csv" in [item["Key"] for item in lister.list_objects_v2(Bucket="reports")["Contents"]]


def test_a_listing_grant_scoped_by_prefix_allows_only_that_prefix(
    assume: Assume, client_as: ClientAs, emulator: Emulator
) -> None:
    """AWS supplies s3:prefix from the ListObjects query (absent if none); moto never did (extension)."""
    grant = policy(allow("s3:ListBucket", "arn:aws:s3:::reports", StringLike={"s3:prefix": "today*"}))
    s3 = client_as("s3", assume(grant))
    assert s3.list_objects_v2(Bucket="reports", Prefix="today")["Contents"][0]["Key"].startswith("today")
    assert error_code(lambda: s3.list_objects_v2(Bucket="reports", Prefix="2024/")) == "AccessDenied"
    assert error_code(lambda: s3.list_objects_v2(Bucket="reports")) == "AccessDenied"


def test_a_grant_past_its_deadline_denies_everything_while_the_sts_session_lives(
    assume: Assume, client_as: ClientAs
) -> None:
    """AWS: aws:CurrentTime in the session policy cuts use off before Expiration (extension)."""
    credentials = assume(read_reports_grant(until=PAST))
    s3 = client_as("s3", credentials)
    assert error_code(lambda: s3.get_object(Bucket="reports", Key="today.csv")) == "AccessDenied"
    assert client_as("sts", credentials).get_caller_identity()["Arn"].endswith("/agent-test")


def test_a_grant_for_another_region_is_denied(assume: Assume, client_as: ClientAs) -> None:
    """AWS: aws:RequestedRegion is the signing region; eu-west-1 grant, us-east-1 call (extension)."""
    s3 = client_as("s3", assume(read_reports_grant(region="eu-west-1")))
    assert error_code(lambda: s3.get_object(Bucket="reports", Key="today.csv")) == "AccessDenied"


def test_the_same_grant_works_when_signed_for_its_region(assume: Assume, client_as: ClientAs) -> None:
    """AWS: the region condition compares the request's credential-scope region (extension)."""
    s3 = client_as("s3", assume(read_reports_grant(region="eu-west-1")), region="eu-west-1")
    assert s3.get_object(Bucket="reports", Key="today.csv")["Body"].read()


def test_an_allow_conditioned_on_a_key_the_emulator_does_not_model_is_denied(
    assume: Assume, client_as: ClientAs
) -> None:
    """Fail closed where AWS might deny: moto would treat the condition as met (extension). AWS
    denies too: a request that does not come through a VPC endpoint has no aws:SourceVpce."""
    grant = policy(allow("s3:GetObject", "arn:aws:s3:::reports/*", StringEquals={"aws:SourceVpce": "vpce-1"}))
    s3 = client_as("s3", assume(grant))
    assert error_code(lambda: s3.get_object(Bucket="reports", Key="today.csv")) == "AccessDenied"


def test_numeric_conditions_are_compared_as_numbers(assume: Assume, client_as: ClientAs) -> None:
    """AWS compares Numeric* operators numerically; aws:EpochTime is now seconds (extension)."""
    future, past = (
        policy(allow("s3:GetObject", "arn:aws:s3:::reports/*", NumericLessThan={"aws:EpochTime": bound}))
        for bound in ("9999999999", "1000000000")
    )
    assert client_as("s3", assume(future)).get_object(Bucket="reports", Key="today.csv")["Body"].read()
    s3 = client_as("s3", assume(past))
    assert error_code(lambda: s3.get_object(Bucket="reports", Key="today.csv")) == "AccessDenied"


def test_an_explicit_deny_in_the_session_policy_wins(assume: Assume, client_as: ClientAs) -> None:
    """AWS: an explicit Deny beats the Allow beside it and the role's Allow (extension)."""
    grant = policy(allow("s3:*", "*"), deny("s3:GetObject", "arn:aws:s3:::reports/today.csv"))
    s3 = client_as("s3", assume(grant))
    assert error_code(lambda: s3.get_object(Bucket="reports", Key="today.csv")) == "AccessDenied"
    assert s3.get_object(Bucket="finance", Key="q3.csv")["Body"].read()


def test_a_session_without_policy_can_do_all_its_role_allows(assume: Assume, client_as: ClientAs) -> None:
    """AWS: without a session policy the role's own s3:* applies -- the role can do more (extension
    keeps this).
    """
    s3 = client_as("s3", assume())
    s3.put_object(Bucket="reports", Key="sandbox-test-written-by-role.csv", Body=b"ok")
    s3.delete_object(Bucket="reports", Key="sandbox-test-written-by-role.csv")
    assert s3.get_object(Bucket="finance", Key="q3.csv")["Body"].read()
    assert {bucket["Name"] for bucket in s3.list_buckets()["Buckets"]} >= {"reports", "finance"}


def test_role_policy_conditions_are_evaluated_not_assumed(
    assume: Assume, client_as: ClientAs, create_role: Callable[..., str], emulator: Emulator
) -> None:
    """AWS evaluates the role's own conditions; moto assumes Date* true and a conditional Deny
    applies always (extension): expired allow grants nothing, a foreign-region deny spares us."""
    trust = trust_source_user(emulator.account_id)
    role_policy = policy(
        allow("s3:GetObject", "arn:aws:s3:::finance/*", DateLessThan={"aws:CurrentTime": PAST}),
        allow("s3:GetObject", "arn:aws:s3:::reports/*"),
        deny("s3:*", "*", StringEquals={"aws:RequestedRegion": "eu-west-1"}),
    )
    s3 = client_as(
        "s3",
        assume(role_arn=create_role("sandbox-test-conditional-role", trust=trust, role_policy=role_policy)),
    )
    assert s3.get_object(Bucket="reports", Key="today.csv")["Body"].read()
    assert error_code(lambda: s3.get_object(Bucket="finance", Key="q3.csv")) == "AccessDenied"


def test_tagging_a_session_needs_tag_session_in_the_trust_policy(
    assume: Assume, create_role: Callable[..., str], emulator: Emulator
) -> None:
    """AWS: AssumeRole with Tags also needs sts:TagSession in the trust policy (extension)."""
    trust = trust_source_user(emulator.account_id)
    role_arn = create_role(
        "sandbox-test-untaggable-role", trust=trust, role_policy=policy(allow("s3:*", "*"))
    )
    tags = [{"Key": "grant", "Value": "g-1"}]
    assert assume(role_arn=role_arn)["AccessKeyId"]
    assert error_code(lambda: assume(role_arn=role_arn, Tags=tags)) == "AccessDenied"
    assert assume(Tags=tags)["AccessKeyId"]  # the seeded role's trust allows TagSession


def test_a_role_deny_on_token_issue_time_cuts_off_sessions_issued_before(
    assume: Assume,
    client_as: ClientAs,
    create_role: Callable[..., str],
    as_admin: Callable[..., Any],
    emulator: Emulator,
) -> None:
    """AWS's documented revoke: deny aws:TokenIssueTime before a moment in the role policy;
    moto supplies no such key and assumes Date* conditions true (extension)."""
    role_arn = create_role(
        "sandbox-test-revocable-role",
        trust=trust_source_user(emulator.account_id),
        role_policy=policy(allow("s3:*", "*")),
    )
    s3 = client_as("s3", assume(role_arn=role_arn))

    def revoke_issued_before(moment: str) -> None:
        document = policy(deny("*", "*", DateLessThan={"aws:TokenIssueTime": moment}))
        as_admin(
            lambda iam: iam.put_role_policy(
                RoleName="sandbox-test-revocable-role", PolicyName="revoke", PolicyDocument=document
            )
        )

    revoke_issued_before(PAST)  # sessions issued after the moment are untouched
    assert s3.get_object(Bucket="reports", Key="today.csv")["Body"].read()
    revoke_issued_before(minutes_from_now(1))
    assert error_code(lambda: s3.get_object(Bucket="reports", Key="today.csv")) == "AccessDenied"


def test_a_role_deny_on_userid_cuts_off_one_session_only(
    assume: Assume,
    client_as: ClientAs,
    create_role: Callable[..., str],
    as_admin: Callable[..., Any],
    emulator: Emulator,
) -> None:
    """AWS: aws:userid is 'role-id:session-name', so a narrower deny can match one grant (extension)."""
    role_arn = create_role(
        "sandbox-test-shared-role",
        trust=trust_source_user(emulator.account_id),
        role_policy=policy(allow("s3:*", "*")),
    )
    kept = client_as("s3", assume(role_arn=role_arn, RoleSessionName="cb-grant-1"))
    revoked = client_as("s3", assume(role_arn=role_arn, RoleSessionName="cb-grant-2"))
    revoke = policy(deny("*", "*", StringLike={"aws:userid": "*:cb-grant-2"}))
    as_admin(
        lambda iam: iam.put_role_policy(
            RoleName="sandbox-test-shared-role", PolicyName="revoke", PolicyDocument=revoke
        )
    )
    assert kept.get_object(Bucket="reports", Key="today.csv")["Body"].read()
    assert error_code(lambda: revoked.get_object(Bucket="reports", Key="today.csv")) == "AccessDenied"


def test_expired_session_credentials_are_refused(
    assume: Assume, client_as: ClientAs, emulator: Emulator
) -> None:
    """AWS refuses credentials past Expiration with ExpiredToken; moto never checks (extension)."""
    credentials = assume()
    session = sts_backends[emulator.account_id]["aws"].get_assumed_role_from_access_key(
        credentials["AccessKeyId"]
    )
    session.expiration = datetime(2001, 1, 1)  # fast-forward instead of waiting 15 minutes
    assert error_code(lambda: client_as("s3", credentials).list_buckets()) == "ExpiredToken"
    assert error_code(lambda: client_as("sts", credentials).get_caller_identity()) == "ExpiredToken"


def test_install_is_idempotent() -> None:
    """Installing twice must not wrap the patch in itself (extension's install)."""
    session_policy_enforcement.install()
    patched = session_policy_enforcement.IAMRequestBase.check_action_permitted
    session_policy_enforcement.install()
    assert session_policy_enforcement.IAMRequestBase.check_action_permitted is patched
    assert session_policy_enforcement.is_installed()
