"""Our ``cloud-broker mcp`` over stdio against a ``runtime_only`` sandbox: every tool of both
families, the ``grant://`` resources and the tool descriptions, and not one credential value
in anything the model reads; then the runtime resolves both pointers and the values work."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from cloud_broker.cli.agent_session import agent_session
from cloud_broker.cli.sandbox_process import SandboxProcess, mcp_env
from tests.e2e.runtime_support import AWS_READ, CLOUD_BROKER, GCP_READ, aws, run, runtime_env, values_of

pytestmark = pytest.mark.e2e


async def _every_tool(env: dict[str, str], info: dict[str, Any], errlog: Any) -> tuple[list[str], dict[str, Any]]:
    shown: list[str] = []
    grants: dict[str, Any] = {}
    async with agent_session(env, errlog=errlog) as agent:
        for family, target, scope in (("aws", {"account_id": info["account_id"]}, AWS_READ),
                                      ("gcp", {"project_id": info["gcp_project_id"]}, GCP_READ)):
            calls = [("list_accounts", {}), ("describe_scope", target), ("check_approval_channel", target),
                     ("preview_request", {**target, **scope}), ("request_access", {**target, **scope})]
            for tool, arguments in calls:
                reply = await agent.call(f"{family}_{tool}", arguments)
                shown.append(reply.text)
            grant = reply.json
            grants[family] = grant
            for tool in ("poll_grant", "get_credentials"):
                reply = await agent.call(f"{family}_{tool}", {"grant_id": grant["grant_id"]})
                assert not reply.is_error, reply.text
                shown.append(reply.text)
            grants[f"{family}_pointer"] = reply.json
        for resource in (await agent.session.list_resources()).resources:
            contents = (await agent.session.read_resource(resource.uri)).contents
            shown.extend(getattr(content, "text", "") for content in contents)
        tools = (await agent.session.list_tools()).tools
        grants["descriptions"] = {tool.name: tool.description for tool in tools}
        shown.extend(tool.description for tool in tools)
    return shown, grants


def test_no_value_reaches_the_model_through_our_mcp_server(runtime_sandbox: SandboxProcess, tmp_path: Path) -> None:
    with open(tmp_path / "stderr.log", "w+") as errlog:
        shown, grants = asyncio.run(_every_tool(mcp_env(runtime_sandbox.info), runtime_sandbox.info, errlog))
    for family in ("aws", "gcp"):
        pointer = grants[f"{family}_pointer"]
        assert pointer["credentials_delivery"] == "runtime_only" and "credentials" not in pointer
        assert pointer["secret_ref"] == grants[family]["secret_ref"]
        assert "never returns them" in grants["descriptions"][f"{family}_get_credentials"]

    env = runtime_env(runtime_sandbox, tmp_path)
    profile = run([CLOUD_BROKER, "aws-profile", grants["aws"]["secret_ref"], "--profile", "ours", "--write"], env)
    assert profile.returncode == 0, profile.stderr
    read = aws(["--profile", "ours", "s3", "cp", "s3://reports/today.csv", "-"], runtime_sandbox, env)
    assert read.returncode == 0 and read.stdout.startswith("date,"), read.stderr

    everything = "\n".join(shown) + (tmp_path / "stderr.log").read_text()
    for family in ("aws", "gcp"):
        values = values_of(runtime_sandbox, grants[family]["secret_ref"])
        assert values
        for value in values:
            assert value not in everything
