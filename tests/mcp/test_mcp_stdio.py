"""The real process: ``python -m cloud_broker.mcp`` over stdio, its exit codes, stderr and start-up time."""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp_broker_stub import TOKEN_PREFIX, Reply, StubBroker
from mcp_harness import (
    ACCOUNT,
    API_KEY,
    COMMAND,
    GRANT,
    PRESET_TOKEN,
    agt_env,
    process_env,
)

import cloud_broker

SECRET_ACCESS_KEY = "wJalrXUtnFEMI-K7MDENG-SECRET"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}},
}


@pytest.mark.parametrize(
    "unset",
    [("AGT_HOST",), ("AGT_AGENT_ID",), ("AGT_RUN_ID",), ("AGT_TOKEN",), ("AGT_RUN_ID", "AGT_TOKEN")],
)
def test_missing_configuration_exits_1_with_one_stderr_line_before_speaking_mcp(
    stub: StubBroker, unset: tuple[str, ...]
) -> None:
    env = agt_env(stub, **{name: "" for name in unset})
    done = subprocess.run(
        COMMAND, env=process_env(env), input=json.dumps(INITIALIZE) + "\n", capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 1
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert "AGT_HOST, AGT_AGENT_ID and AGT_RUN_ID are required, plus one of AGT_TOKEN or AGT_API_KEY" in line
    assert stub.requests == []


@pytest.mark.anyio
async def test_a_full_stdio_session_leaves_no_secret_on_stderr(stub: StubBroker, tmp_path: Path) -> None:
    stub.reply("GET", "/aws/inventory", Reply(json={"accounts": [{"account_id": ACCOUNT, "display_name": "Prod"}]}))
    credentials = {"access_key_id": "ASIAEXAMPLE", "secret_access_key": SECRET_ACCESS_KEY, "session_token": "FQoG-SECRET"}
    stub.reply("POST", "/aws/grants", Reply(json={"grant_id": GRANT, "status": "active", "credentials": credentials}))
    stub.reply("POST", f"/aws/grants/{GRANT}/credentials", Reply(json={"grant_id": GRANT, "credentials": credentials}))
    stub.reply("GET", "/aws/scope", Reply(401, {"error": f"bad token {TOKEN_PREFIX}1"}))
    env = agt_env(stub, AGT_TOKEN="", AGT_API_KEY=API_KEY, AGT_TEAM_SLUG="acme",
                  AGT_TURN_INITIATOR_FILE=str(tmp_path / "initiator.json"))
    (tmp_path / "initiator.json").write_text(json.dumps({"channel": "c", "sender_id": "u", "ts": time.time() * 1000}))
    request = {"account_id": ACCOUNT, "actions": ["s3:GetObject"], "resources": ["arn:aws:s3:::b/*"], "regions": ["us-east-1"]}
    with tempfile.TemporaryFile("w+") as errlog:
        params = StdioServerParameters(command=COMMAND[0], args=COMMAND[1:], env=process_env(env))
        async with Client(stdio_client(params, errlog=errlog), mode="legacy") as client:
            tools = (await client.list_tools()).tools
            created = await client.call_tool("aws_request_access", request)
            fetched = await client.call_tool("aws_get_credentials", {"grant_id": GRANT})
            refused = await client.call_tool("aws_describe_scope", {"account_id": ACCOUNT})
            invalid = await client.call_tool("aws_poll_grant", {"grant_id": "nope"})
        errlog.seek(0)
        stderr = errlog.read()
    assert "`123456789012` — Prod" in tools[0].description
    assert SECRET_ACCESS_KEY not in created.content[0].text and not created.is_error
    assert SECRET_ACCESS_KEY in fetched.content[0].text
    assert refused.is_error and refused.content[0].text == "Broker error 401: bad token [redacted]"
    assert invalid.is_error
    assert stub.calls("/aws/grants")[0].json()["turn_initiator"] == {"channel": "c", "sender_id": "u"}
    assert "AGT_TEAM_SLUG is deprecated" in stderr
    for secret in (API_KEY, PRESET_TOKEN, f"{TOKEN_PREFIX}1", SECRET_ACCESS_KEY, "FQoG-SECRET"):
        assert secret not in stderr


class RawStdio:
    """The server process driven with hand-written JSON-RPC lines, to see the exact wire form."""

    def __init__(self, stub: StubBroker) -> None:
        self.proc = subprocess.Popen(
            COMMAND, env=process_env(agt_env(stub)), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True,
        )

    def send(self, message: dict) -> None:
        self.proc.stdin.write(json.dumps(message) + "\n")
        self.proc.stdin.flush()

    def receive(self) -> dict:
        return json.loads(self.proc.stdout.readline())

    def close(self) -> int:
        self.proc.stdin.close()
        return self.proc.wait(timeout=10)


def test_initialize_does_not_wait_for_a_slow_inventory(stub: StubBroker) -> None:
    """The inventory is answered only after 8 s; if start-up waited for it, the tool list read
    right after ``initialize`` would already carry the account. Ordering, not wall time, is checked."""
    accounts = {"accounts": [{"account_id": ACCOUNT, "display_name": "Prod"}]}
    stub.reply("GET", "/aws/inventory", Reply(json=accounts, delay=8.0))
    raw = RawStdio(stub)
    try:
        raw.send(INITIALIZE)
        reply = raw.receive()
        raw.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        raw.send({"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
        tools = raw.receive()["result"]["tools"]
    finally:
        assert raw.close() == 0
    assert reply["result"]["serverInfo"] == {"name": "cloud-broker", "version": cloud_broker.__version__}
    assert reply["result"]["capabilities"]["tools"] == {"listChanged": True}
    assert stub.calls("/aws/inventory"), "the inventory fetch had started"
    assert all(ACCOUNT not in tool["description"] for tool in tools)


def test_on_the_wire_success_has_no_is_error_key_and_failure_has_is_error_true(stub: StubBroker) -> None:
    raw = RawStdio(stub)
    try:
        raw.send(INITIALIZE)
        raw.receive()
        raw.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        raw.send({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "aws_list_accounts"}})
        success = raw.receive()["result"]
        bad = {"name": "aws_poll_grant", "arguments": {"grant_id": "x"}}
        raw.send({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": bad})
        failure = raw.receive()["result"]
    finally:
        raw.close()
    assert success == {"content": [{"type": "text", "text": '{\n  "accounts": []\n}'}]}
    assert failure["isError"] is True and set(failure) == {"content", "isError"}
