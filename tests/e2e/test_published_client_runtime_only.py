"""``credentials_delivery: runtime_only`` through the published TypeScript MCP server, unchanged:
it passes a 200 reply of ``POST /aws/grants/{id}/credentials`` through verbatim (contract §3.3),
so the model reads the pointer and how to resolve it, and never a value; the runtime then
resolves the pointer with ``cloud-broker credential-process`` behind ``aws --profile``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from cloud_broker.cli.agent_session import agent_session
from cloud_broker.cli.sandbox_process import SandboxProcess, mcp_env
from tests.e2e.runtime_support import AWS_READ, CLOUD_BROKER, aws, run, runtime_env

pytestmark = pytest.mark.e2e


def test_runtime_only_works_through_the_published_client(runtime_sandbox: SandboxProcess, published_server: list[str],
                                                         tmp_path: Path) -> None:
    account = runtime_sandbox.info["account_id"]

    async def flow(errlog: Any) -> dict[str, Any]:
        async with agent_session(mcp_env(runtime_sandbox.info), errlog=errlog, command=published_server) as agent:
            results = {
                "scope": await agent.call("aws_describe_scope", {"account_id": account}),
                "grant": await agent.call("aws_request_access", {"account_id": account, **AWS_READ}),
            }
            grant_id = results["grant"].json["grant_id"]
            results["pointer"] = await agent.call("aws_get_credentials", {"grant_id": grant_id})
            results["polled"] = await agent.call("aws_poll_grant", {"grant_id": grant_id})
            results["accounts"] = await agent.call("aws_list_accounts", {})
        return results

    with open(tmp_path / "stderr.log", "w+") as errlog:
        results = asyncio.run(flow(errlog))
    grant, pointer = results["grant"].json, results["pointer"]
    assert grant["status"] == "active" and not pointer.is_error, pointer.text
    assert pointer.json["credentials_delivery"] == "runtime_only" and "credentials" not in pointer.json
    assert pointer.json["secret_ref"] == grant["secret_ref"]

    env = runtime_env(runtime_sandbox, tmp_path)
    profile = run([CLOUD_BROKER, "aws-profile", grant["secret_ref"], "--profile", "from-published", "--write"], env)
    assert profile.returncode == 0, profile.stderr
    read = aws(["--profile", "from-published", "s3", "cp", "s3://reports/today.csv", "-"], runtime_sandbox, env)
    assert read.returncode == 0 and read.stdout.startswith("date,region,revenue"), read.stderr

    document = json.loads(run([CLOUD_BROKER, "credential-process", grant["secret_ref"]], env).stdout)
    values = [document["AccessKeyId"], document["SecretAccessKey"], document["SessionToken"]]
    shown = "\n".join(reply.text for reply in results.values()) + (tmp_path / "stderr.log").read_text()
    for value in values:
        assert value not in shown
