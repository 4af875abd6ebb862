"""What each tool puts on the wire to the broker (contract §2–§3): method, path, query, headers, body."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

import pytest
from mcp_broker_stub import Recorded, Reply, StubBroker
from mcp_harness import ACCOUNT, AGENT_ID, GRANT, PRESET_TOKEN, RUN_ID, connect

pytestmark = pytest.mark.anyio

REQUEST = {"account_id": ACCOUNT, "actions": ["s3:GetObject"], "resources": ["arn:aws:s3:::r/*"], "regions": ["us-east-1"]}


def only_call(stub: StubBroker) -> Recorded:
    calls = [r for r in stub.api_calls() if not r.path.endswith("/inventory")]
    assert len(calls) == 1, calls
    return calls[0]


def assert_standard_headers(call: Recorded, token: str = PRESET_TOKEN) -> None:
    assert call.headers["authorization"] == f"Bearer {token}"
    assert call.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("tool", "arguments", "method", "path", "query"),
    [
        ("aws_describe_scope", {"account_id": ACCOUNT}, "GET", "/aws/scope", [("account_id", ACCOUNT), ("agent_id", AGENT_ID)]),
        ("aws_check_approval_channel", {"account_id": ACCOUNT}, "GET", "/aws/approval-channel-status",
         [("account_id", ACCOUNT), ("agent_id", AGENT_ID)]),
        ("aws_poll_grant", {"grant_id": GRANT}, "GET", f"/aws/grants/{GRANT}", [("agent_id", AGENT_ID)]),
        ("aws_list_accounts", None, "GET", "/aws/inventory", [("agent_id", AGENT_ID)]),
    ],
)
async def test_read_tools_send_authorised_gets_with_the_contract_query(
    stub: StubBroker, tool: str, arguments: dict | None, method: str, path: str, query: list
) -> None:
    async with connect(stub) as session:
        stub.requests.clear()
        await session.call_json(tool, arguments)
    (call,) = stub.calls(path)
    assert (call.method, parse_qsl(call.query)) == (method, query)
    assert call.body == b""
    assert_standard_headers(call)


@pytest.mark.parametrize("action", ["release", "credentials"])
async def test_release_and_credentials_are_posts_with_no_body_but_json_content_type(stub: StubBroker, action: str) -> None:
    tool = {"release": "aws_release_access", "credentials": "aws_get_credentials"}[action]
    async with connect(stub) as session:
        await session.call_json(tool, {"grant_id": GRANT})
    call = only_call(stub)
    assert (call.method, call.path, call.query) == ("POST", f"/aws/grants/{GRANT}/{action}", f"agent_id={AGENT_ID}")
    assert call.body == b""
    assert call.headers["content-length"] == "0"
    assert_standard_headers(call)


async def test_preview_body_carries_args_and_agent_id_but_no_run_id_and_omits_absent_ttl(stub: StubBroker) -> None:
    async with connect(stub) as session:
        await session.call_json("aws_preview_request", REQUEST)
    call = only_call(stub)
    assert (call.method, call.path, call.query) == ("POST", "/aws/scope/preview", "")
    assert call.json() == {**REQUEST, "agent_id": AGENT_ID}
    assert_standard_headers(call)


async def test_request_access_fills_agent_and_run_from_env_and_sends_ttl_as_integer(stub: StubBroker) -> None:
    async with connect(stub) as session:
        await session.call_json("aws_request_access", {**REQUEST, "ttl_seconds": 900.0, "reason": "read reports"})
    call = only_call(stub)
    assert (call.method, call.path) == ("POST", "/aws/grants")
    assert call.json() == {**REQUEST, "ttl_seconds": 900, "reason": "read reports", "agent_id": AGENT_ID, "run_id": RUN_ID}
    assert b'"ttl_seconds": 900,' in call.body


async def test_caller_agent_and_run_ids_win_over_env(stub: StubBroker) -> None:
    other_agent, other_run = "AAAAAAAA-0000-0000-0000-000000000000", "00000000-0000-0000-0000-000000000000"
    async with connect(stub) as session:
        await session.call_json("aws_request_access", {**REQUEST, "agent_id": other_agent, "run_id": other_run})
    body = only_call(stub).json()
    assert (body["agent_id"], body["run_id"]) == (other_agent, other_run)


async def test_unknown_keys_are_dropped_at_every_level(stub: StubBroker) -> None:
    source = {"channel_type": "slack", "channel_id": "C123", "thread_ts": "1700.1", "admin": True}
    async with connect(stub) as session:
        await session.call_json("aws_request_access", {**REQUEST, "source_context": source, "sudo": "yes"})
    body = only_call(stub).json()
    assert "sudo" not in body
    assert body["source_context"] == {"channel_type": "slack", "channel_id": "C123", "thread_ts": "1700.1"}


async def test_source_context_defaults_from_inbound_env_and_caller_value_wins(stub: StubBroker) -> None:
    from cloud_broker.mcp.settings import InboundChannel

    inbound = InboundChannel("slack", "C-ENV", "1700.9")
    async with connect(stub, inbound_channel=inbound) as session:
        await session.call_json("aws_request_access", REQUEST)
        mine = {"channel_type": "telegram", "channel_id": "42"}
        await session.call_json("aws_request_access", {**REQUEST, "source_context": mine})
    first, second = (r.json() for r in stub.calls("/aws/grants"))
    assert first["source_context"] == {"channel_type": "slack", "channel_id": "C-ENV", "thread_ts": "1700.9"}
    assert second["source_context"] == mine


async def test_no_source_context_is_sent_when_neither_caller_nor_env_gives_one(stub: StubBroker) -> None:
    async with connect(stub) as session:
        await session.call_json("aws_request_access", REQUEST)
    assert "source_context" not in only_call(stub).json()


async def test_base_url_with_a_path_prefix_is_kept_and_trailing_slashes_trimmed(stub: StubBroker) -> None:
    from cloud_broker.mcp.settings import load_settings

    settings = load_settings(
        {"AGT_HOST": stub.base_url + "/api//", "AGT_AGENT_ID": AGENT_ID, "AGT_RUN_ID": RUN_ID, "AGT_TOKEN": PRESET_TOKEN}
    )
    async with connect(stub, host=settings.host) as session:
        await session.call_json("aws_describe_scope", {"account_id": ACCOUNT})
    assert sorted(r.path for r in stub.requests) == ["/api/aws/inventory", "/api/aws/scope", "/api/gcp/inventory"]


async def test_success_is_the_broker_json_pretty_printed_with_two_spaces(stub: StubBroker) -> None:
    reply = {"would": "auto_approve", "reason": None, "nested": {"list": [1, "ü"]}}
    stub.reply("POST", "/aws/scope/preview", Reply(json=reply))
    async with connect(stub) as session:
        result = await session.client.call_tool("aws_preview_request", REQUEST)
    assert result.is_error is False and result.structured_content is None
    assert result.content[0].text == json.dumps(reply, indent=2, ensure_ascii=False)


async def test_request_access_strips_top_level_credentials_and_keeps_key_order(stub: StubBroker) -> None:
    reply = {"grant_id": GRANT, "credentials": {"secret_access_key": "AKIA-SECRET"}, "status": "active", "secret_ref": "x"}
    stub.reply("POST", "/aws/grants", Reply(json=reply))
    async with connect(stub) as session:
        text, is_error = await session.call("aws_request_access", REQUEST)
    assert not is_error
    assert "AKIA-SECRET" not in text
    assert list(json.loads(text)) == ["grant_id", "status", "secret_ref"]


async def test_get_credentials_passes_credentials_through(stub: StubBroker) -> None:
    reply = {"grant_id": GRANT, "expires_at": "2030-01-01T00:00:00Z", "credentials": {"access_key_id": "ASIA1"}}
    stub.reply("POST", f"/aws/grants/{GRANT}/credentials", Reply(json=reply))
    async with connect(stub) as session:
        assert await session.call_json("aws_get_credentials", {"grant_id": GRANT}) == reply


async def test_a_200_with_ok_false_is_still_a_success(stub: StubBroker) -> None:
    stub.reply("GET", "/aws/approval-channel-status", Reply(json={"ok": False, "reason": "not_in_channel"}))
    async with connect(stub) as session:
        assert await session.call_json("aws_check_approval_channel", {"account_id": ACCOUNT}) == {
            "ok": False,
            "reason": "not_in_channel",
        }
