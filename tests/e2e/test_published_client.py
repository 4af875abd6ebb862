"""The published TypeScript MCP server (``@integrity-labs/cloud-broker`` 0.7.18, unchanged, from the
npm registry) completes the worked example against our broker API and the emulator.

It is installed at test time into a temporary folder and never committed. The test needs Node.js
and npm, which this project's machines carry; elsewhere it is skipped with that reason.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from cloud_broker.cli.agent_session import agent_session
from cloud_broker.cli.aws_cli import run_aws
from cloud_broker.cli.sandbox_process import SandboxProcess, mcp_env

pytestmark = pytest.mark.e2e

READ = {"actions": ["s3:GetObject", "s3:ListBucket"], "resources": ["arn:aws:s3:::reports/*", "arn:aws:s3:::reports"],
        "regions": ["us-east-1"], "ttl_seconds": 900}


def _read_reports(credentials: dict[str, str], info: dict[str, Any]) -> Any:
    return run_aws(["s3", "cp", "s3://reports/today.csv", "-"], credentials,
                   endpoint_url=info["aws_endpoint_url"], region=info["region"])


def test_published_client_runs_the_worked_example_unchanged(sandbox: SandboxProcess, published_server: list[str],
                                                            tmp_path: Path) -> None:
    account = sandbox.info["account_id"]

    async def flow() -> dict[str, Any]:
        with open(tmp_path / "stderr.log", "w+") as errlog:
            async with agent_session(mcp_env(sandbox.info), errlog=errlog, command=published_server) as agent:
                names = await agent.tool_names()
                scope = await agent.call("aws_describe_scope", {"account_id": account})
                preview = await agent.call("aws_preview_request", {"account_id": account, **READ})
                grant = await agent.call("aws_request_access", {"account_id": account, **READ, "reason": "daily CSV"})
                grant_id = grant.json["grant_id"]
                creds = await agent.call("aws_get_credentials", {"grant_id": grant_id})
                read = await asyncio.to_thread(_read_reports, creds.json["credentials"], sandbox.info)
                polled = await agent.call("aws_poll_grant", {"grant_id": grant_id})
                released = await agent.call("aws_release_access", {"grant_id": grant_id})
                read_after = await asyncio.to_thread(_read_reports, creds.json["credentials"], sandbox.info)
                again = await agent.call("aws_release_access", {"grant_id": grant_id})
                refused = await agent.call("aws_get_credentials", {"grant_id": grant_id})
                accounts = await agent.call("aws_list_accounts", {})
                foreign = await agent.call("aws_describe_scope", {"account_id": "999999999999"})
        return {k: v for k, v in locals().items() if k not in {"agent", "errlog"}}

    r = asyncio.run(flow())
    assert {"aws_request_access", "aws_get_credentials", "aws_release_access"} <= set(r["names"])
    assert not r["scope"].is_error and r["scope"].json["max_ttl_seconds"] == 3600
    assert r["preview"].json["would"] == "auto_approve" and r["preview"].json["reason"] is None
    assert r["grant"].json["status"] == "active" and r["grant"].json["secret_ref"].endswith(r["grant_id"])
    assert r["polled"].json["status"] == "active"
    credentials = r["creds"].json["credentials"]
    assert r["read"].returncode == 0 and r["read"].stdout.startswith("date,")
    assert r["released"].json["status"] == "revoked" and r["again"].json["status"] == "revoked"
    assert r["released"].json["revoked_in_cloud"] is True and r["read_after"].access_denied  # AWS refuses it at once
    assert r["refused"].is_error and r["refused"].text.startswith("Broker error 409: GRANT_RELEASED")
    assert [a["account_id"] for a in r["accounts"].json["accounts"]] == [account]
    assert r["foreign"].is_error and r["foreign"].text.startswith("Broker error 404: NO_ENROLMENT")
    stderr = (tmp_path / "stderr.log").read_text()
    assert "inventory_lookup_failed" not in stderr, stderr
    for secret in [*credentials.values(), sandbox.info["host_api_key"]]:
        assert secret not in stderr
