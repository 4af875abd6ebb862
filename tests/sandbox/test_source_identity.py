"""SourceIdentity on AssumeRole: refused unless both trust and caller allow it, then visible to
policies as aws:SourceIdentity and carried through role chaining (moto ignored it; extension)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from cloud_broker.families.aws.minting import source_identity
from cloud_broker.families.aws.provider import AwsStsProvider, MintRequest
from cloud_broker.sandbox.emulator import SOURCE_USER, Emulator

from .support import allow, deny, policy, trust_source_user

Assume = Callable[..., dict[str, str]]
ClientAs = Callable[..., Any]
AGENT = "38102791-50c9-43a8-8bc8-b24508de8678"
SET = ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"]


def error_code(call: Callable[[], Any]) -> str:
    with pytest.raises(ClientError) as refused:
        call()
    return str(refused.value.response["Error"]["Code"])


@pytest.fixture(scope="module")
def role(create_role: Callable[..., str], as_admin: Callable[..., Any], emulator: Emulator) -> Callable[..., str]:
    """A role whose trust allows ``trusted`` actions; the broker's own policy may always set
    a source identity on it, so only the trust policy decides."""

    def _create(name: str, trusted: list[str], role_policy: str | None = None) -> str:
        arn = create_role(name, trust=trust_source_user(emulator.account_id, trusted),
                          role_policy=role_policy or policy(allow("s3:*", "*")))
        as_admin(lambda iam: iam.put_user_policy(UserName=SOURCE_USER, PolicyName=f"source-identity-{name}",
                                                 PolicyDocument=policy(allow("sts:SetSourceIdentity", arn))))
        return arn

    return _create


def test_a_trust_policy_without_set_source_identity_refuses_it(assume: Assume, role: Callable[..., str]) -> None:
    arn = role("sandbox-si-untrusting", ["sts:AssumeRole", "sts:TagSession"])
    assert assume(role_arn=arn)["AccessKeyId"]  # without a source identity the role is assumable
    assert error_code(lambda: assume(role_arn=arn, SourceIdentity=AGENT)) == "AccessDenied"


def test_a_caller_whose_policy_lacks_set_source_identity_is_refused(
    assume: Assume, create_role: Callable[..., str], emulator: Emulator
) -> None:
    """The trust allows it, the broker's own identity policy does not: AWS needs both."""
    arn = create_role("sandbox-si-caller-lacks", trust=trust_source_user(emulator.account_id, SET),
                      role_policy=policy(allow("s3:*", "*")))
    assert error_code(lambda: assume(role_arn=arn, SourceIdentity=AGENT)) == "AccessDenied"


def test_the_seeded_role_accepts_a_source_identity_and_reports_it(source_sts: Any, emulator: Emulator) -> None:
    reply = source_sts.assume_role(RoleArn=emulator.role_arn, RoleSessionName="si", SourceIdentity=AGENT)
    assert reply["SourceIdentity"] == AGENT


@pytest.mark.parametrize("value", ["has space", "aws:reserved", "x" * 65])
def test_a_malformed_source_identity_is_a_validation_error(assume: Assume, value: str) -> None:
    assert error_code(lambda: assume(SourceIdentity=value)) == "ValidationError"


def test_aws_source_identity_is_the_sessions_in_policy_conditions(
    assume: Assume, client_as: ClientAs, role: Callable[..., str]
) -> None:
    """A role Deny conditioned on aws:SourceIdentity stops exactly that identity's sessions."""
    arn = role("sandbox-si-conditioned", SET, policy(
        allow("s3:*", "*"), deny("s3:GetObject", "*", StringEquals={"aws:SourceIdentity": "blocked-agent"})))
    assert client_as("s3", assume(role_arn=arn, SourceIdentity=AGENT)).get_object(
        Bucket="reports", Key="today.csv")["Body"].read()
    blocked = client_as("s3", assume(role_arn=arn, SourceIdentity="blocked-agent"))
    assert error_code(lambda: blocked.get_object(Bucket="reports", Key="today.csv")) == "AccessDenied"
    # Without a source identity the key is absent: StringEquals does not match, nothing is denied.
    assert client_as("s3", assume(role_arn=arn)).get_object(Bucket="reports", Key="today.csv")


def test_a_broker_minted_session_carries_the_agent_id(
    emulator: Emulator, client_as: ClientAs, role: Callable[..., str]
) -> None:
    """What the provider sends: only the agent named in the role's condition may read."""
    arn = role("sandbox-si-broker", SET, policy(
        allow("s3:GetObject", "*", StringEquals={"aws:SourceIdentity": AGENT})))
    provider = AwsStsProvider(_broker_session(emulator), endpoint_url=emulator.endpoint_url)

    def mint(agent_id: str) -> Any:
        issued = provider.mint(MintRequest(
            grant_id="g", account_id=emulator.account_id, role_arn=arn, session_name="cb-g",
            session_policy=policy(allow("s3:*", "*")), duration_seconds=900, region=emulator.region,
            source_identity=source_identity(agent_id)))
        values = issued.values
        return client_as("s3", {"AccessKeyId": values["access_key_id"], "SecretAccessKey":
                                values["secret_access_key"], "SessionToken": values["session_token"]})

    assert mint(AGENT).get_object(Bucket="reports", Key="today.csv")["Body"].read()
    other = mint("5d4c3b2a-0000-4000-8000-000000000000")
    assert error_code(lambda: other.get_object(Bucket="reports", Key="today.csv")) == "AccessDenied"


def test_role_chaining_carries_the_source_identity_and_never_changes_it(
    assume: Assume, client_as: ClientAs, create_role: Callable[..., str], emulator: Emulator,
    as_admin: Callable[..., Any],
) -> None:
    # moto matches a trusted principal literally: name the first hop's session ARN.
    session = f"arn:aws:sts::{emulator.account_id}:assumed-role/sandbox-si-first/agent-test"
    second = create_role("sandbox-si-second", trust=policy({
        "Effect": "Allow", "Principal": {"AWS": session},
        "Action": SET}), role_policy=policy(allow("sts:GetCallerIdentity", "*")))
    first = create_role("sandbox-si-first", trust=trust_source_user(emulator.account_id, SET),
                        role_policy=policy(allow(["sts:AssumeRole", "sts:SetSourceIdentity"], second)))
    as_admin(lambda iam: iam.put_user_policy(UserName=SOURCE_USER, PolicyName="source-identity-first",
                                             PolicyDocument=policy(allow("sts:SetSourceIdentity", first))))
    sts = client_as("sts", assume(role_arn=first, SourceIdentity=AGENT))
    chained = sts.assume_role(RoleArn=second, RoleSessionName="chained")
    assert chained["SourceIdentity"] == AGENT
    changed = lambda: sts.assume_role(RoleArn=second, RoleSessionName="chained", SourceIdentity="someone-else")
    assert error_code(changed) == "AccessDenied"


def _broker_session(emulator: Emulator) -> Any:
    import boto3

    return boto3.Session(aws_access_key_id=emulator.source_access_key_id,
                         aws_secret_access_key=emulator.source_secret_access_key, region_name=emulator.region)
