"""The template ``enroll aws`` emits, deployed to the emulator with CloudFormation: the role
exists as written, a broker configured with the fragment mints into it, and the agent's
session is held to the grant, the boundary and the revocation rules under IAM enforcement."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.core.authorization import disable_iam_authentication

from cloud_broker.families.aws import revocation_names as names
from cloud_broker.families.aws.enrolment import cloudformation
from cloud_broker.families.aws.enrolment.documents import build_documents
from cloud_broker.families.aws.enrolment.spec import build_spec
from cloud_broker.sandbox.emulator import Emulator
from cloud_broker.sandbox.stacks import create_stack
from tests.api.conftest import BrokerUnderTest, reads_reports, s3_client

from .conftest import DeployedRole, broker_user_arn, let_the_broker_assume


def error_code(call: Callable[[], Any]) -> str:
    with pytest.raises(ClientError) as refused:
        call()
    return str(refused.value.response["Error"]["Code"])


def admin_iam(emulator: Emulator) -> Any:
    return boto3.client("iam", endpoint_url=emulator.endpoint_url, region_name=emulator.region,
                        aws_access_key_id="operator", aws_secret_access_key="operator")


def mint_read_reports(bt: BrokerUnderTest, agent_id: str | None = None) -> dict[str, str]:
    body = bt.grant_body(agent_id=agent_id or bt.agent_id)
    granted = bt.client.post("/aws/grants", json=body, headers=bt.headers())
    assert granted.status_code == 200 and granted.json()["status"] == "active", granted.text
    grant_id = granted.json()["grant_id"]
    read = bt.client.post(f"/aws/grants/{grant_id}/credentials", params={"agent_id": body["agent_id"]},
                          headers=bt.headers())
    assert read.status_code == 200, read.text
    return dict(read.json()["credentials"])


def test_cloudformation_creates_the_role_its_boundary_policies_and_session_limit(
    emulator: Emulator, deployed_role: DeployedRole
) -> None:
    iam = admin_iam(emulator)
    with disable_iam_authentication():
        role = iam.get_role(RoleName="cloud-broker-enrolled")["Role"]
        inline = {name: iam.get_role_policy(RoleName="cloud-broker-enrolled", PolicyName=name)["PolicyDocument"]
                  for name in iam.list_role_policies(RoleName="cloud-broker-enrolled")["PolicyNames"]}
        boundary = iam.get_policy(PolicyArn=deployed_role.boundary_arn)["Policy"]
        version = iam.get_policy_version(PolicyArn=deployed_role.boundary_arn,
                                         VersionId=boundary["DefaultVersionId"])["PolicyVersion"]
    assert role["MaxSessionDuration"] == deployed_role.docs.max_session_duration == 3600
    assert role["PermissionsBoundary"]["PermissionsBoundaryArn"] == deployed_role.boundary_arn
    assert _document(role["AssumeRolePolicyDocument"]) == deployed_role.docs.trust_policy
    assert {name: _document(doc) for name, doc in inline.items()} == dict(deployed_role.docs.inline_policies)
    assert _document(version["Document"]) == deployed_role.docs.boundary_policy


def test_a_grant_minted_into_the_enrolled_role_reads_reports_and_nothing_else(
    enrolled_broker: BrokerUnderTest,
) -> None:
    s3 = s3_client(enrolled_broker, mint_read_reports(enrolled_broker))
    assert s3.get_object(Bucket="reports", Key="today.csv")["Body"].read().startswith(b"date,")
    assert error_code(lambda: s3.get_object(Bucket="finance", Key="q3.csv")) == "AccessDenied"
    assert error_code(lambda: s3.put_object(Bucket="reports", Key="x.csv", Body=b"x")) == "AccessDenied"


def test_the_agent_uses_its_grant_with_the_aws_cli(
    emulator: Emulator, enrolled_broker: BrokerUnderTest, tmp_path: Path
) -> None:
    from cloud_broker.cli.aws_cli import run_aws

    credentials = mint_read_reports(enrolled_broker)

    def aws(*args: str) -> Any:
        return run_aws(list(args), credentials, endpoint_url=emulator.endpoint_url, region=emulator.region)

    read = aws("s3", "cp", "s3://reports/today.csv", "-")
    assert read.returncode == 0 and read.stdout.startswith("date,"), read.stderr
    refused = aws("s3api", "get-object", "--bucket", "finance", "--key", "q3.csv", str(tmp_path / "q3.csv"))
    assert refused.returncode != 0 and refused.access_denied, refused.stderr


def test_a_trust_with_an_external_id_refuses_a_mint_without_it(emulator: Emulator) -> None:
    """Deployed with --external-id: AssumeRole must carry it (the broker sends the fragment's)."""
    spec = build_spec(account_id=emulator.account_id, broker_principal=broker_user_arn(emulator),
                      role_name="cloud-broker-external", external_id="ext-2026", allow=("s3:GetObject",),
                      regions=("us-east-1",))
    with disable_iam_authentication():
        outputs = create_stack(emulator.endpoint_url, emulator.region, "cloud-broker-external",
                               cloudformation.template(build_documents(spec)))
        let_the_broker_assume(emulator, outputs["RoleArn"], "assume-external-role")
    sts = boto3.client("sts", endpoint_url=emulator.endpoint_url, region_name=emulator.region,
                       aws_access_key_id=emulator.source_access_key_id,
                       aws_secret_access_key=emulator.source_secret_access_key)
    role = {"RoleArn": outputs["RoleArn"], "RoleSessionName": "cb-external"}
    assert error_code(lambda: sts.assume_role(**role)) == "AccessDenied"
    assert error_code(lambda: sts.assume_role(**role, ExternalId="wrong-one")) == "AccessDenied"
    assert sts.assume_role(**role, ExternalId="ext-2026", SourceIdentity="agent-1")["SourceIdentity"] == "agent-1"


def test_the_agents_session_carries_its_agent_id_as_source_identity(
    emulator: Emulator, enrolled_broker: BrokerUnderTest
) -> None:
    """A role deny on every other aws:SourceIdentity leaves this agent's grant working."""
    iam = admin_iam(emulator)
    only_agent = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Action": "s3:*", "Resource": "*",
        "Condition": {"StringNotEquals": {"aws:SourceIdentity": enrolled_broker.agent_id}}}]}
    with disable_iam_authentication():
        iam.put_role_policy(RoleName="cloud-broker-enrolled", PolicyName="test-only-agent",
                            PolicyDocument=json.dumps(only_agent))
    try:
        mine = s3_client(enrolled_broker, mint_read_reports(enrolled_broker))
        assert mine.get_object(Bucket="reports", Key="today.csv")["Body"].read()
        theirs = s3_client(enrolled_broker, mint_read_reports(enrolled_broker, enrolled_broker.other_agent_id))
        assert error_code(lambda: theirs.get_object(Bucket="reports", Key="today.csv")) == "AccessDenied"
    finally:
        with disable_iam_authentication():
            iam.delete_role_policy(RoleName="cloud-broker-enrolled", PolicyName="test-only-agent")


def test_only_the_revoker_session_may_write_the_revocation_policy_and_it_cuts_a_grant_off(
    emulator: Emulator, deployed_role: DeployedRole, enrolled_broker: BrokerUnderTest
) -> None:
    broker_sts = boto3.client("sts", endpoint_url=emulator.endpoint_url, region_name=emulator.region,
                              aws_access_key_id=emulator.source_access_key_id,
                              aws_secret_access_key=emulator.source_secret_access_key)
    session_policy = json.dumps(names.revoker_session_policy(deployed_role.role_arn))

    def iam_as(session_name: str) -> Any:
        creds = broker_sts.assume_role(RoleArn=deployed_role.role_arn, RoleSessionName=session_name,
                                       Policy=session_policy)["Credentials"]
        return boto3.client("iam", endpoint_url=emulator.endpoint_url, region_name=emulator.region,
                            aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                            aws_session_token=creds["SessionToken"])

    credentials = mint_read_reports(enrolled_broker)
    agent_s3 = s3_client(enrolled_broker, credentials)
    agent_userid = boto3.client(
        "sts", endpoint_url=emulator.endpoint_url, region_name=emulator.region,
        aws_access_key_id=credentials["access_key_id"], aws_secret_access_key=credentials["secret_access_key"],
        aws_session_token=credentials["session_token"]).get_caller_identity()["UserId"]
    revocation = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Action": "*", "Resource": "*",
        "Condition": {"StringEquals": {"aws:userid": agent_userid}}}]})
    put = {"RoleName": "cloud-broker-enrolled", "PolicyName": names.REVOCATION_POLICY_NAME,
           "PolicyDocument": revocation}

    # Another session of the role, even with the same session policy, is denied.
    assert error_code(lambda: iam_as("cb-impostor").put_role_policy(**put)) == "AccessDenied"
    revoker = iam_as(names.REVOKER_SESSION_NAME)
    assert agent_s3.get_object(Bucket="reports", Key="today.csv")["Body"].read()
    revoker.put_role_policy(**put)
    try:
        assert error_code(lambda: agent_s3.get_object(Bucket="reports", Key="today.csv")) == "AccessDenied"
        assert names.REVOCATION_POLICY_NAME in revoker.list_role_policies(RoleName="cloud-broker-enrolled")[
            "PolicyNames"]
    finally:
        revoker.delete_role_policy(RoleName="cloud-broker-enrolled", PolicyName=names.REVOCATION_POLICY_NAME)
    assert agent_s3.get_object(Bucket="reports", Key="today.csv")["Body"].read()


def test_the_boundary_caps_what_a_later_inline_policy_could_give(
    emulator: Emulator, deployed_role: DeployedRole
) -> None:
    """An inline s3:* added to the role later does not reach past the boundary: a session
    without any session policy still reads only reports (moto ignores boundaries; extended)."""
    iam = admin_iam(emulator)
    broad = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    with disable_iam_authentication():
        iam.put_role_policy(RoleName="cloud-broker-enrolled", PolicyName="test-broad",
                            PolicyDocument=json.dumps(broad))
    try:
        creds = boto3.client(
            "sts", endpoint_url=emulator.endpoint_url, region_name=emulator.region,
            aws_access_key_id=emulator.source_access_key_id,
            aws_secret_access_key=emulator.source_secret_access_key,
        ).assume_role(RoleArn=deployed_role.role_arn, RoleSessionName="cb-unbounded")["Credentials"]
        s3 = boto3.client("s3", endpoint_url=emulator.endpoint_url, region_name=emulator.region,
                          aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                          aws_session_token=creds["SessionToken"])
        assert s3.get_object(Bucket="reports", Key="today.csv")["Body"].read()
        assert error_code(lambda: s3.get_object(Bucket="finance", Key="q3.csv")) == "AccessDenied"
        assert error_code(lambda: s3.put_object(Bucket="reports", Key="x.csv", Body=b"x")) == "AccessDenied"
    finally:
        with disable_iam_authentication():
            iam.delete_role_policy(RoleName="cloud-broker-enrolled", PolicyName="test-broad")


def _document(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def test_release_revoke_and_the_kill_switch_run_through_the_enrolled_role(
    enrolled_broker: BrokerUnderTest, deployed_role: DeployedRole
) -> None:
    """The role as CloudFormation made it, with no other help: the broker's revoker session writes
    the revocation policy, AWS refuses exactly the revoked sessions, and the collector cleans up."""
    from datetime import timedelta

    from cloud_broker.service.kill_switch import Selection

    bt = enrolled_broker

    def grant() -> tuple[str, Any]:
        body = bt.grant_body()
        grant_id = bt.client.post("/aws/grants", json=body, headers=bt.headers()).json()["grant_id"]
        creds = bt.client.post(f"/aws/grants/{grant_id}/credentials", params={"agent_id": bt.agent_id},
                               headers=bt.headers()).json()["credentials"]
        return grant_id, s3_client(bt, creds)

    released_id, released = grant()
    revoked_id, revoked = grant()
    killed_id, killed = grant()
    reply = bt.client.post(f"/aws/grants/{released_id}/release", params={"agent_id": bt.agent_id},
                           headers=bt.headers()).json()
    assert reply["revoked_in_cloud"] is True and deployed_role.role_arn in reply["cloud_revocation"]
    assert not reads_reports(released) and reads_reports(revoked) and reads_reports(killed)
    bt.broker.approvals.revoke(revoked_id, "alice", "incident")
    assert not reads_reports(revoked) and reads_reports(killed)
    [stopped] = bt.broker.kill_switch.pull(Selection(grant_id=killed_id), "operator:root", "drill")
    assert stopped.job is not None and bt.broker.revocations.run_now(stopped.job).revoked_in_cloud is True
    assert not reads_reports(killed)

    bt.clock.offset += timedelta(seconds=900) + timedelta(minutes=6)
    assert bt.broker.sweeper.sweep(collect=True)["collected"] >= 3
