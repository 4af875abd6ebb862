"""The real processes: ``cloud-broker serve --sandbox``, ``cloud-broker mcp`` over stdio driven by an
MCP client session, the AWS CLI, and ``cloud-broker approve``. The emulator enforces session
policies through the extension in ``cloud_broker.sandbox`` (moto alone ignores them)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
from typing import Any

import pytest

from cloud_broker.cli.agent_session import agent_session
from cloud_broker.cli.aws_cli import run_aws
from cloud_broker.cli.sandbox_process import SandboxProcess, child_env, mcp_env

pytestmark = pytest.mark.e2e

READ = {"actions": ["s3:GetObject", "s3:ListBucket"], "resources": ["arn:aws:s3:::reports/*", "arn:aws:s3:::reports"],
        "regions": ["us-east-1"]}


def _aws(sandbox: SandboxProcess, args: list[str], creds: dict[str, str], stdin: str | None = None) -> Any:
    return run_aws(args, creds, endpoint_url=sandbox.info["aws_endpoint_url"], region=sandbox.info["region"], stdin=stdin)


def test_agent_gets_exactly_the_granted_access_through_mcp_and_the_aws_cli(sandbox: SandboxProcess) -> None:
    stderr = tempfile.TemporaryFile(mode="w+")

    async def flow() -> dict[str, Any]:
        async with agent_session(mcp_env(sandbox.info), errlog=stderr) as agent:
            account = sandbox.info["account_id"]
            scope = (await agent.call("aws_describe_scope", {"account_id": account})).json
            grant = (await agent.call("aws_request_access", {"account_id": account, **READ, "reason": "daily CSV"})).json
            creds = (await agent.call("aws_get_credentials", {"grant_id": grant["grant_id"]})).json
            return {"scope": scope, "grant": grant, "creds": creds}

    result = asyncio.run(flow())
    assert result["scope"]["max_ttl_seconds"] == 3600
    assert result["grant"]["status"] == "active" and "credentials" not in result["grant"]
    creds = result["creds"]["credentials"]
    read = _aws(sandbox, ["s3", "cp", "s3://reports/today.csv", "-"], creds)
    assert read.returncode == 0 and read.stdout.startswith("date,")
    assert _aws(sandbox, ["s3", "ls", "s3://reports/"], creds).returncode == 0
    assert _aws(sandbox, ["s3", "cp", "-", "s3://reports/x.csv"], creds, stdin="x").access_denied
    assert _aws(sandbox, ["s3api", "get-object", "--bucket", "finance", "--key", "q3.csv", "/dev/null"], creds).access_denied
    head = _aws(sandbox, ["s3", "cp", "s3://finance/q3.csv", "-"], creds)
    assert head.returncode != 0 and "(403)" in head.stderr, "HEAD carries no body, so AWS answers a bare 403"
    assert _aws(sandbox, ["s3", "ls"], creds).access_denied, "ListAllMyBuckets was not granted"
    stderr.seek(0)
    logs = stderr.read() + sandbox.log_path.read_text()
    for secret in [*creds.values(), sandbox.info["host_api_key"]]:
        assert secret not in logs


def test_pending_request_is_approved_with_the_cli_and_then_mints(sandbox: SandboxProcess) -> None:
    write = {"actions": ["s3:PutObject"], "resources": ["arn:aws:s3:::reports/uploads/*"], "regions": ["us-east-1"]}

    async def request() -> dict[str, Any]:
        async with agent_session(mcp_env(sandbox.info)) as agent:
            return (await agent.call("aws_request_access", {"account_id": sandbox.info["account_id"], **write})).json

    pending = asyncio.run(request())
    assert pending["status"] == "pending"
    approve = subprocess.run(
        [sys.executable, "-m", "cloud_broker", "approve", pending["grant_id"], "--approver", sandbox.info["approver"],
         "--state-dir", str(sandbox.state_dir)],
        capture_output=True, text=True, env=child_env(), timeout=120, check=False,
    )
    assert approve.returncode == 0, approve.stderr
    assert "active" in approve.stdout

    async def fetch() -> tuple[dict[str, Any], dict[str, Any]]:
        async with agent_session(mcp_env(sandbox.info)) as agent:
            polled = (await agent.call("aws_poll_grant", {"grant_id": pending["grant_id"]})).json
            return polled, (await agent.call("aws_get_credentials", {"grant_id": pending["grant_id"]})).json

    polled, creds = asyncio.run(fetch())
    assert polled["status"] == "active"
    upload = _aws(sandbox, ["s3", "cp", "-", "s3://reports/uploads/a.csv"], creds["credentials"], stdin="a,b\n")
    assert upload.returncode == 0, upload.stderr
    assert _aws(sandbox, ["s3", "cp", "-", "s3://reports/elsewhere.csv"], creds["credentials"], stdin="x").access_denied


def test_second_cli_approval_is_refused(sandbox: SandboxProcess) -> None:
    async def request() -> dict[str, Any]:
        async with agent_session(mcp_env(sandbox.info)) as agent:
            return (await agent.call("aws_request_access", {"account_id": sandbox.info["account_id"],
                    "actions": ["s3:DeleteObject"], "resources": ["arn:aws:s3:::reports/old/*"], "regions": ["us-east-1"]})).json

    grant_id = asyncio.run(request())["grant_id"]
    base = [sys.executable, "-m", "cloud_broker", "deny", grant_id, "--approver", sandbox.info["approver"],
            "--reason", "not needed", "--state-dir", str(sandbox.state_dir)]
    first = subprocess.run(base, capture_output=True, text=True, env=child_env(), timeout=120, check=False)
    second = subprocess.run(base, capture_output=True, text=True, env=child_env(), timeout=120, check=False)
    assert first.returncode == 0 and "denied" in first.stdout
    assert second.returncode != 0 and "ALREADY_RESOLVED" in second.stderr


def test_released_credentials_are_refused_by_the_broker(sandbox: SandboxProcess) -> None:
    async def flow() -> tuple[Any, Any]:
        async with agent_session(mcp_env(sandbox.info)) as agent:
            grant = (await agent.call("aws_request_access", {"account_id": sandbox.info["account_id"], **READ})).json
            released = await agent.call("aws_release_access", {"grant_id": grant["grant_id"]})
            after = await agent.call("aws_get_credentials", {"grant_id": grant["grant_id"]})
            return released, after

    released, after = asyncio.run(flow())
    assert released.json["status"] == "revoked"
    assert after.is_error and after.text.startswith("Broker error 409:") and "GRANT_RELEASED" in after.text


def test_demo_command_runs_the_worked_example() -> None:
    demo = subprocess.run([sys.executable, "-m", "cloud_broker", "demo"], capture_output=True, text=True,
                          env=child_env(), timeout=300, check=False)
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    for step in ("aws_describe_scope", "auto_approve", "route_to_approver", "secret_ref://aws/runs/",
                 "AccessDenied", "is waiting for approval", "was approved by sandbox-approver and is active",
                 "narrowed away by the approver", "gcp_request_access", "storage: download gs://reports/today.csv",
                 "access_boundary", "Demo complete"):
        assert step in demo.stdout
    assert "✗" not in demo.stdout and "Warning" not in demo.stderr


def _cli(sandbox: SandboxProcess, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "cloud_broker", *args, "--state-dir", str(sandbox.state_dir)]
    return subprocess.run(command, capture_output=True, text=True, env=child_env(), timeout=120, check=False)


def test_cli_approval_can_narrow_and_an_approver_can_revoke(sandbox: SandboxProcess) -> None:
    ask = {"actions": ["s3:PutObject", "s3:DeleteObject"], "resources": ["arn:aws:s3:::reports/cli/*"],
           "regions": ["us-east-1"], "ttl_seconds": 1200}

    async def request() -> dict[str, Any]:
        async with agent_session(mcp_env(sandbox.info)) as agent:
            return (await agent.call("aws_request_access", {"account_id": sandbox.info["account_id"], **ask})).json

    grant_id = asyncio.run(request())["grant_id"]
    approver = sandbox.info["approver"]
    wider = _cli(sandbox, "approve", grant_id, "--approver", approver, "--action", "s3:GetObject")
    assert wider.returncode == 2 and "not requested" in wider.stderr
    narrowed = _cli(sandbox, "approve", grant_id, "--approver", approver, "--action", "s3:PutObject",
                    "--ttl", "600", "--comment", "uploads only")
    assert narrowed.returncode == 0 and "active" in narrowed.stdout, narrowed.stderr

    async def fetch() -> tuple[dict[str, Any], dict[str, Any]]:
        async with agent_session(mcp_env(sandbox.info)) as agent:
            polled = (await agent.call("aws_poll_grant", {"grant_id": grant_id})).json
            return polled, (await agent.call("aws_get_credentials", {"grant_id": grant_id})).json

    polled, creds = asyncio.run(fetch())
    assert polled["actions"] == ["s3:PutObject"] and polled["ttl_seconds"] == 600
    assert polled["requested"]["actions"] == ["s3:PutObject", "s3:DeleteObject"]
    assert _aws(sandbox, ["s3", "rm", "s3://reports/cli/x.csv"], creds["credentials"]).access_denied

    revoked = _cli(sandbox, "revoke", grant_id, "--approver", approver, "--reason", "done early")
    assert revoked.returncode == 0 and "revoked" in revoked.stdout

    async def read_again() -> Any:
        async with agent_session(mcp_env(sandbox.info)) as agent:
            return await agent.call("aws_get_credentials", {"grant_id": grant_id})

    assert asyncio.run(read_again()).is_error
    trail = _cli(sandbox, "audit", "--grant", grant_id).stdout
    assert '"grant.approved"' in trail and '"uploads only"' in trail and '"grant.revoked"' in trail
    assert _cli(sandbox, "deliveries", "--grant", grant_id).returncode == 0
