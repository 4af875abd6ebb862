"""``cloud-broker mcp --config broker.yaml``: the whole broker inside the MCP server process,
on SQLite, minting against the sandbox's emulator through the state dir's AWS profile."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import pytest

from cloud_broker.cli.aws_cli import run_aws
from cloud_broker.cli.sandbox_process import SandboxProcess, child_env

pytestmark = pytest.mark.e2e


async def _session(command: list[str], env: dict[str, str], calls: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    params = StdioServerParameters(command=command[0], args=command[1:], env=child_env(**env))
    replies = []
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        for tool, arguments in calls:
            result = await session.call_tool(tool, arguments)
            replies.append((bool(result.is_error), "".join(getattr(c, "text", "") for c in result.content)))
    return replies


def test_embedded_broker_mints_usable_credentials(sandbox: SandboxProcess) -> None:
    state = sandbox.state_dir
    command = [sys.executable, "-m", "cloud_broker", "mcp", "--config", str(state / "broker.yaml"),
               "--state-dir", str(state)]
    request = {"account_id": sandbox.info["account_id"], "actions": ["s3:GetObject"],
               "resources": ["arn:aws:s3:::reports/*"], "regions": ["us-east-1"]}
    replies = asyncio.run(_session(command, {"AGT_AGENT_ID": sandbox.info["agent_id"]},
                                   [("aws_list_accounts", {}), ("aws_request_access", request)]))
    accounts, grant = (json.loads(text) for _, text in replies)
    assert [a["account_id"] for a in accounts["accounts"]] == [sandbox.info["account_id"]]
    assert grant["status"] == "active" and grant["secret_ref"].startswith("secret_ref://aws/runs/")
    (error, creds_text), = asyncio.run(_session(command, {"AGT_AGENT_ID": sandbox.info["agent_id"]},
                                                [("aws_get_credentials", {"grant_id": grant["grant_id"]})]))
    assert not error
    creds = json.loads(creds_text)["credentials"]
    read = run_aws(["s3", "cp", "s3://reports/today.csv", "-"], creds,
                   endpoint_url=sandbox.info["aws_endpoint_url"], region=sandbox.info["region"])
    assert read.returncode == 0 and read.stdout.startswith("date,")


def test_embedded_mode_refuses_an_unknown_agent(sandbox: SandboxProcess) -> None:
    import subprocess

    state = sandbox.state_dir
    proc = subprocess.run(
        [sys.executable, "-m", "cloud_broker", "mcp", "--config", str(state / "broker.yaml"), "--state-dir", str(state)],
        env=child_env(AGT_AGENT_ID="00000000-0000-0000-0000-000000000000"), input="", capture_output=True,
        text=True, timeout=60, check=False,
    )
    assert proc.returncode == 1
    assert "must name an agent" in proc.stderr and proc.stdout == ""
