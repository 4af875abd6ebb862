"""What the ``gcp_*`` tools put on the wire (contract §3.2, §4.3): the same shapes as the published
client, including its difference from AWS — requests carry no ``turn_initiator`` even when the
host runtime wrote one — and one departure: grant routes name the agent, which the published
client leaves out, so the broker can check the grant is this agent's."""

from __future__ import annotations

import json
import time
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
from mcp_broker_stub import Reply, StubBroker
from mcp_harness import AGENT_ID, GRANT, RUN_ID, connect

pytestmark = pytest.mark.anyio

PROJECT = "reports-prod-42"
REQUEST = {"project_id": PROJECT, "permissions": ["storage.objects.get"],
           "resources": ["projects/_/buckets/reports/objects/*"]}


@pytest.mark.parametrize(
    ("tool", "arguments", "method", "path", "query"),
    [
        ("gcp_describe_scope", {"project_id": PROJECT}, "GET", "/gcp/scope",
         [("project_id", PROJECT), ("agent_id", AGENT_ID)]),
        ("gcp_check_approval_channel", {"project_id": PROJECT}, "GET", "/gcp/approval-channel-status",
         [("project_id", PROJECT), ("agent_id", AGENT_ID)]),
        # The published client names no agent here; ours does, so the broker checks it.
        ("gcp_poll_grant", {"grant_id": GRANT}, "GET", f"/gcp/grants/{GRANT}", [("agent_id", AGENT_ID)]),
        ("gcp_release_access", {"grant_id": GRANT}, "POST", f"/gcp/grants/{GRANT}/release", [("agent_id", AGENT_ID)]),
        ("gcp_get_credentials", {"grant_id": GRANT}, "POST", f"/gcp/grants/{GRANT}/credentials",
         [("agent_id", AGENT_ID)]),
        ("gcp_list_accounts", None, "GET", "/gcp/inventory", [("agent_id", AGENT_ID)]),
    ],
)
async def test_gcp_tools_call_the_contract_paths_and_name_the_agent(
    stub: StubBroker, tool: str, arguments: dict | None, method: str, path: str, query: list
) -> None:
    async with connect(stub) as session:
        stub.requests.clear()
        await session.call_json(tool, arguments)
    (call,) = stub.calls(path)
    assert (call.method, parse_qsl(call.query)) == (method, query)
    assert call.body == b""


async def test_preview_and_request_bodies_and_no_turn_initiator_for_gcp(stub: StubBroker, tmp_path: Path) -> None:
    marker = tmp_path / "turn-initiator.json"
    marker.write_text(json.dumps({"channel": "C1", "sender_id": "U1", "ts": time.time() * 1000}))
    stub.reply("POST", "/gcp/grants", Reply(json={"grant_id": GRANT, "status": "active",
                                                   "credentials": {"access_token": "ya29.secret"}}))
    async with connect(stub, turn_initiator_file=marker) as session:
        await session.call_json("gcp_preview_request", REQUEST)
        created = await session.call_json("gcp_request_access", {**REQUEST, "turn_initiator": {"channel": "x"},
                                                                 "ttl_seconds": 600.0})
        await session.call_json("aws_request_access", {"account_id": "123456789012", "actions": ["s3:GetObject"],
                                                       "resources": ["*"], "regions": ["us-east-1"]})
    (preview,) = stub.calls("/gcp/scope/preview")
    assert preview.json() == {**REQUEST, "agent_id": AGENT_ID}
    (request,) = stub.calls("/gcp/grants")
    assert request.json() == {**REQUEST, "ttl_seconds": 600, "agent_id": AGENT_ID, "run_id": RUN_ID}
    assert "credentials" not in created and created["status"] == "active"
    (aws,) = stub.calls("/aws/grants")
    assert aws.json()["turn_initiator"] == {"channel": "C1", "sender_id": "U1"}, "AWS requests still carry it"


@pytest.mark.parametrize("project", ["Reports", "abc", "a" * 31, "reports-", "1reports"])
async def test_a_malformed_project_id_is_refused_before_any_call(stub: StubBroker, project: str) -> None:
    async with connect(stub) as session:
        stub.requests.clear()
        text, is_error = await session.call("gcp_describe_scope", {"project_id": project})
    assert is_error and "project_id" in text and stub.api_calls() == []


async def test_the_gcp_inventory_is_listed_in_the_gcp_descriptions_only(stub: StubBroker) -> None:
    stub.reply("GET", "/gcp/inventory", Reply(json={"projects": [
        {"project_id": PROJECT, "display_name": "Reports", "service_account_email": "agent@p.iam.gserviceaccount.com"}]}))
    async with connect(stub) as session:
        tools = {tool.name: tool.description for tool in (await session.client.list_tools()).tools}
    bullet = f"- `{PROJECT}` — Reports (agent@p.iam.gserviceaccount.com)"
    assert all(bullet in tools[name] for name in ("gcp_describe_scope", "gcp_check_approval_channel",
                                                  "gcp_request_access"))
    assert not any(bullet in text for name, text in tools.items() if name.startswith("aws_"))
