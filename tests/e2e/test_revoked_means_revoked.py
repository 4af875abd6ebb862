"""Revoked means revoked, end to end and as a runtime uses it: a grant minted through
``cloud-broker mcp`` is used by the AWS CLI through a ``credential_process`` profile; once it is
released, the very next AWS CLI call with the same credentials is refused by the emulator while a
second grant on the same role keeps working; the operator's kill switch then stops the second;
and the collector later removes the statements."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cloud_broker.cli.agent_session import agent_session
from cloud_broker.cli.sandbox_process import SandboxProcess, mcp_env
from cloud_broker.families.aws.revocation_names import REVOCATION_POLICY_NAME, REVOKER_SESSION_NAME

from .runtime_support import AWS_READ, CLOUD_BROKER, aws, run, runtime_env

pytestmark = pytest.mark.e2e


def _aws_env(env: dict[str, str], creds: dict[str, str]) -> dict[str, str]:
    """The same credentials, given to the AWS CLI directly (no profile, no resolver)."""
    return {**env, "AWS_ACCESS_KEY_ID": creds["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
            "AWS_SESSION_TOKEN": creds["SessionToken"]}


def _denied(result: Any) -> bool:
    return result.returncode != 0 and ("AccessDenied" in result.stderr or "Forbidden" in result.stderr)


def _revoked_sessions(sandbox: SandboxProcess, now: datetime) -> set[str]:
    """Run the collector as of ``now`` (a broker wired on the sandbox's own state dir, with the
    broker's AWS identity), then name the sessions the role's revocation policy still denies."""
    import boto3
    import botocore.session

    from cloud_broker.cli.wiring import wire
    from cloud_broker.service.broker import Broker
    from cloud_broker.settings import Settings

    settings = Settings.build(state_dir=sandbox.state_dir, env={})
    wired = wire(settings)
    Broker(replace(wired.broker.deps, clock=lambda: now)).revocations.collect(force=True)
    core = botocore.session.Session()
    core.set_config_variable("config_file", str(settings.aws_config_file))
    core.set_config_variable("credentials_file", str(settings.aws_credentials_file))
    session = boto3.Session(botocore_session=core)
    role_arn = wired.config.section("aws_accounts")[0].role_arn
    creds = session.client("sts").assume_role(RoleArn=role_arn, RoleSessionName=REVOKER_SESSION_NAME)["Credentials"]
    iam = session.client("iam", aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                         aws_session_token=creds["SessionToken"])
    role = role_arn.rsplit("/", 1)[-1]
    if REVOCATION_POLICY_NAME not in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        return set()
    document = iam.get_role_policy(RoleName=role, PolicyName=REVOCATION_POLICY_NAME)["PolicyDocument"]
    return {s["Condition"]["StringLike"]["aws:userid"].split(":", 1)[1] for s in document["Statement"]}


def test_a_released_grant_is_refused_by_aws_at_the_next_call_and_another_keeps_working(
        sandbox: SandboxProcess, tmp_path: Path) -> None:
    info = sandbox.info
    env = runtime_env(sandbox, tmp_path)

    async def mint_two() -> tuple[dict[str, Any], dict[str, Any]]:
        async with agent_session(mcp_env(info)) as agent:
            ask = {"account_id": info["account_id"], **AWS_READ, "reason": "daily CSV"}
            first = await agent.call("aws_request_access", ask)
            second = await agent.call("aws_request_access", {**ask, "reason": "weekly CSV"})
        return first.json, second.json

    first, second = asyncio.run(mint_two())
    assert first["status"] == second["status"] == "active"
    for name, grant in (("first", first), ("second", second)):
        written = run([CLOUD_BROKER, "aws-profile", grant["secret_ref"], "--profile", name, "--write"], env)
        assert written.returncode == 0, written.stderr
    read = aws(["s3", "cp", "s3://reports/today.csv", "-", "--profile", "first"], sandbox, env)
    assert read.returncode == 0 and read.stdout.startswith("date,"), read.stderr
    resolved = run([CLOUD_BROKER, "credential-process", first["secret_ref"]], env)
    creds = json.loads(resolved.stdout)  # what the CLI's credential_process just used
    direct = aws(["s3", "cp", "s3://reports/today.csv", "-"], sandbox, _aws_env(env, creds))
    assert direct.returncode == 0, direct.stderr

    async def release() -> Any:
        async with agent_session(mcp_env(info)) as agent:
            return await agent.call("aws_release_access", {"grant_id": first["grant_id"]})

    released = asyncio.run(release())
    assert released.json["revoked_in_cloud"] is True, released.text
    after = aws(["s3", "cp", "s3://reports/today.csv", "-"], sandbox, _aws_env(env, creds))
    assert _denied(after), after.stderr  # the very next call with the same credentials
    via_profile = aws(["s3", "cp", "s3://reports/today.csv", "-", "--profile", "first"], sandbox, env)
    assert via_profile.returncode != 0 and "GRANT_RELEASED" in via_profile.stderr  # the resolver refuses too
    other = aws(["s3", "cp", "s3://reports/today.csv", "-", "--profile", "second"], sandbox, env)
    assert other.returncode == 0 and other.stdout.startswith("date,"), other.stderr

    ambiguous = run([CLOUD_BROKER, "revoke", second["grant_id"], "--reason", "drill",
                     "--state-dir", str(sandbox.state_dir)], env)
    assert ambiguous.returncode == 2 and "needs --approver" in ambiguous.stderr  # never a kill switch by accident
    stopped = run([CLOUD_BROKER, "revoke", "--grant", second["grant_id"], "--reason", "drill",
                   "--state-dir", str(sandbox.state_dir)], env)
    assert stopped.returncode == 0 and "revoked_in_cloud=true" in stopped.stdout, stopped.stdout + stopped.stderr
    second_creds = json.loads(run([CLOUD_BROKER, "credential-process", second["secret_ref"]], env).stdout or "{}")
    assert second_creds == {}  # the resolver refuses a revoked grant
    refused = aws(["s3", "cp", "s3://reports/today.csv", "-", "--profile", "second"], sandbox, env)
    assert refused.returncode != 0

    ours = {f"cb-{first['grant_id']}", f"cb-{second['grant_id']}"}
    now = datetime.now(UTC)
    assert ours <= _revoked_sessions(sandbox, now)  # both sessions are live: both statements stay
    later = now + timedelta(seconds=AWS_READ["ttl_seconds"]) + timedelta(minutes=6)
    assert not ours & _revoked_sessions(sandbox, later)  # expired: the collector removed them
    log = sandbox.log_path.read_text()
    for value in (creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]):
        assert value not in stopped.stdout and value not in log
