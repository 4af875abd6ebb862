"""A runtime connects to ``cloud-broker serve``'s ``/mcp`` directly, with the official TypeScript SDK.

A real ``serve --sandbox`` process, and a committed node script (``mcp_http_client.mjs``) driving
the SDK's ``StreamableHTTPClientTransport``: refused without a token, then describe scope →
request access → credentials → release as the sandbox's auto-approve rule allows. The tools and
resource templates it was offered are compared with a real ``cloud-broker mcp`` process's.
The SDK is installed at test time into a temporary folder and never committed.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from cloud_broker.cli.agent_session import agent_session
from cloud_broker.cli.aws_cli import run_aws
from cloud_broker.cli.sandbox_process import SandboxProcess, child_env, mcp_env

pytestmark = pytest.mark.e2e
SCRIPT = Path(__file__).with_name("mcp_http_client.mjs")


def host_token(info: dict[str, Any]) -> str:
    """What a runtime holds: the host key exchanged for a host token."""
    reply = httpx.post(f"{info['api_url']}/host/exchange", json={"host_key": info["host_api_key"]}, timeout=30)
    reply.raise_for_status()
    return str(reply.json()["token"])


class ScriptRun:
    """The node script as a child process: one JSON line per step, stdin to let it go on."""

    def __init__(self, ts_sdk: Path, info: dict[str, Any], token: str) -> None:
        command = ["node", str(SCRIPT), str(ts_sdk), f"{info['api_url']}/mcp", info["agent_id"], info["account_id"]]
        self._proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True, env=child_env(MCP_HOST_TOKEN=token))

    def next(self) -> dict[str, Any]:
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        assert line, self._finish()
        return json.loads(line)  # type: ignore[no-any-return]

    def go_on(self) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.write("go\n")
        self._proc.stdin.flush()

    def _finish(self) -> str:
        self._proc.kill()
        return self._proc.communicate(timeout=30)[1]

    def close(self) -> int:
        try:
            returncode = self._proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            returncode = self._proc.wait()
        for pipe in (self._proc.stdin, self._proc.stdout, self._proc.stderr):
            if pipe is not None:
                pipe.close()
        return returncode


async def stdio_offer(info: dict[str, Any], errlog: Any) -> tuple[list[Any], list[Any]]:
    """Tools and resource templates of ``cloud-broker mcp`` on the same broker, as wire JSON."""
    async with agent_session(mcp_env(info), errlog=errlog) as agent:
        tools = (await agent.session.list_tools()).tools
        templates = (await agent.session.list_resource_templates()).resource_templates
    dump = {"by_alias": True, "exclude_none": True, "mode": "json"}
    return [t.model_dump(**dump) for t in tools], [t.model_dump(**dump) for t in templates]


def test_the_typescript_sdk_runs_the_worked_example_over_streamable_http(
    sandbox: SandboxProcess, ts_sdk: Path, tmp_path: Path
) -> None:
    info = sandbox.info
    script = ScriptRun(ts_sdk, info, host_token(info))
    try:
        unauthorized, out = script.next()["unauthorized"], script.next()
        credentials = json.loads(out["credentials"]["text"])["credentials"]
        read = run_aws(["s3", "cp", "s3://reports/today.csv", "-"], credentials,
                       endpoint_url=info["aws_endpoint_url"], region=info["region"])
        script.go_on()
        released = json.loads(script.next()["released"]["text"])
    finally:
        returncode = script.close()
    with open(tmp_path / "stderr.log", "w+") as errlog:
        stdio_tools, stdio_templates = asyncio.run(stdio_offer(info, errlog))

    assert returncode == 0
    assert unauthorized["refused"] is True and unauthorized["code"] == 401
    assert "UNAUTHENTICATED" in unauthorized["message"]
    assert out["tools"] == stdio_tools and out["templates"] == stdio_templates
    assert out["server"]["name"] == "cloud-broker" and out["capabilities"]["resources"]["subscribe"] is True
    assert not out["scope"]["is_error"] and json.loads(out["scope"]["text"])["max_ttl_seconds"] == 3600
    grant = json.loads(out["grant"]["text"])
    assert grant["status"] == "active" and "credentials" not in grant
    assert [r["uri"] for r in out["resources"]] == [f"grant://{grant['grant_id']}"]
    assert read.returncode == 0 and read.stdout.startswith("date,")
    assert released["status"] == "revoked" and released["revoked_in_cloud"] is True
    log = sandbox.log_path.read_text()
    assert credentials["secret_access_key"] not in log and credentials["session_token"] not in log


def test_without_a_token_mcp_answers_401_with_the_error_envelope(sandbox: SandboxProcess) -> None:
    initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                  "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
    reply = httpx.post(f"{sandbox.info['api_url']}/mcp", json=initialize, timeout=30,
                       headers={"X-Agent-Id": sandbox.info["agent_id"], "Accept": "application/json, text/event-stream"})
    assert reply.status_code == 401 and "mcp-session-id" not in reply.headers
    body = reply.json()
    assert body == {"error": "UNAUTHENTICATED: a Bearer token is required", "error_code": "UNAUTHENTICATED",
                    "request_id": reply.headers["x-request-id"]}
