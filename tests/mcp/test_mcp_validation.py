"""Tool inputs (contract §4.1) and the advertised tool list, seen through a real MCP session."""

from __future__ import annotations

from typing import Any

import pytest
from mcp_broker_stub import StubBroker
from mcp_harness import ACCOUNT, GRANT, connect

from cloud_broker import __version__
from cloud_broker.mcp.descriptions import SUFFIX
from cloud_broker.mcp.tools import tool_models

pytestmark = pytest.mark.anyio

REQUEST = {"account_id": ACCOUNT, "actions": ["s3:GetObject"], "resources": ["arn:aws:s3:::r/*"], "regions": ["us-east-1"]}
TOOLS = [
    "aws_describe_scope",
    "aws_preview_request",
    "aws_check_approval_channel",
    "aws_request_access",
    "aws_poll_grant",
    "aws_release_access",
    "aws_get_credentials",
    "aws_list_accounts",
    "gcp_describe_scope",
    "gcp_preview_request",
    "gcp_check_approval_channel",
    "gcp_request_access",
    "gcp_poll_grant",
    "gcp_release_access",
    "gcp_get_credentials",
    "gcp_list_accounts",
]


@pytest.mark.parametrize(
    ("tool", "arguments", "field"),
    [
        ("aws_describe_scope", {"account_id": "12345678901"}, "account_id"),
        ("aws_describe_scope", {"account_id": "12345678901a"}, "account_id"),
        ("aws_describe_scope", {"account_id": 123456789012}, "account_id"),
        ("aws_describe_scope", {"account_id": "123456789012\n"}, "account_id"),
        ("aws_describe_scope", {"account_id": "١٢٣٤٥٦٧٨٩٠١٢"}, "account_id"),  # non-ASCII digits
        ("aws_describe_scope", {}, "account_id"),
        ("aws_request_access", {**REQUEST, "ttl_seconds": "900"}, "ttl_seconds"),
        ("aws_request_access", {**REQUEST, "ttl_seconds": 299}, "ttl_seconds"),
        ("aws_request_access", {**REQUEST, "ttl_seconds": 3601}, "ttl_seconds"),
        ("aws_request_access", {**REQUEST, "ttl_seconds": 900.5}, "ttl_seconds"),
        ("aws_request_access", {**REQUEST, "ttl_seconds": True}, "ttl_seconds"),
        ("aws_request_access", {**REQUEST, "ttl_seconds": None}, "ttl_seconds"),
        ("aws_preview_request", {**REQUEST, "ttl_seconds": "900"}, "ttl_seconds"),
        ("aws_poll_grant", {"grant_id": "not-a-uuid"}, "grant_id"),
        ("aws_release_access", {"grant_id": GRANT + "0"}, "grant_id"),
        ("aws_get_credentials", {"grant_id": GRANT.replace("3", "g", 1)}, "grant_id"),
        ("aws_request_access", {**REQUEST, "reason": "x" * 501}, "reason"),
        ("aws_request_access", {**REQUEST, "reason": ""}, "reason"),
        ("aws_request_access", {**REQUEST, "task_id": ""}, "task_id"),
        ("aws_request_access", {**REQUEST, "actions": []}, "actions"),
        ("aws_request_access", {**REQUEST, "regions": [""]}, "regions.0"),
        ("aws_preview_request", {**REQUEST, "resources": "arn:aws:s3:::r"}, "resources"),
        ("aws_request_access", {**REQUEST, "agent_id": "agent-7"}, "agent_id"),
        ("aws_request_access", {**REQUEST, "source_context": {"channel_type": "slack"}}, "source_context.channel_id"),
        ("aws_request_access", {**REQUEST, "source_context": {"channel_type": "s" * 65, "channel_id": "C1"}},
         "source_context.channel_type"),
        ("aws_request_access", {**REQUEST, "source_context": {"channel_type": "slack", "channel_id": "C", "thread_ts": ""}},
         "source_context.thread_ts"),
    ],
)
async def test_invalid_input_is_an_error_result_naming_the_field_and_makes_no_http_call(
    stub: StubBroker, tool: str, arguments: dict[str, Any], field: str
) -> None:
    async with connect(stub) as session:
        stub.requests.clear()
        text, is_error = await session.call(tool, arguments)
    assert is_error
    assert text.startswith(f"Invalid arguments for tool {tool}: ") and field in text
    assert stub.requests == []


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("aws_request_access", {**REQUEST, "ttl_seconds": 300}),
        ("aws_request_access", {**REQUEST, "ttl_seconds": 3600.0}),
        ("aws_request_access", {**REQUEST, "reason": "x" * 500, "task_id": "kanban:task-1"}),
        ("aws_poll_grant", {"grant_id": "00000000-0000-0000-0000-000000000000"}),  # no version/variant check
        ("aws_poll_grant", {"grant_id": GRANT.upper().replace("3", "A")}),
    ],
)
async def test_boundary_values_are_accepted(stub: StubBroker, tool: str, arguments: dict[str, Any]) -> None:
    async with connect(stub) as session:
        _, is_error = await session.call(tool, arguments)
    assert not is_error


async def test_a_forged_turn_initiator_argument_never_reaches_the_wire(stub: StubBroker) -> None:
    forged = {"channel": "slack:C1", "sender_id": "U-THE-CEO"}
    async with connect(stub) as session:
        await session.call_json("aws_request_access", {**REQUEST, "turn_initiator": forged})
    (call,) = stub.calls("/aws/grants")
    assert "turn_initiator" not in call.json() and b"U-THE-CEO" not in call.body


@pytest.mark.parametrize("arguments", [None, {}, {"unexpected": 1}])
async def test_the_no_argument_tool_accepts_missing_empty_or_junk_arguments(stub: StubBroker, arguments: Any) -> None:
    async with connect(stub) as session:
        assert await session.call_json("aws_list_accounts", arguments) == {"accounts": []}


async def test_server_identity_and_capabilities(stub: StubBroker) -> None:
    async with connect(stub) as session:
        client = session.client
        assert (client.server_info.name, client.server_info.version) == ("cloud-broker", __version__)
        assert client.server_capabilities.tools.list_changed is True
        assert client.server_capabilities.resources is None and client.server_capabilities.prompts is None


async def test_every_familys_eight_tools_are_advertised_with_closed_schemas_and_the_suffix(stub: StubBroker) -> None:
    async with connect(stub) as session:
        tools = (await session.client.list_tools()).tools
    assert [tool.name for tool in tools] == TOOLS
    for tool in tools:
        assert tool.description.endswith(SUFFIX)
        assert tool.input_schema["type"] == "object"
        if not tool.name.endswith("_list_accounts"):
            assert tool.input_schema["additionalProperties"] is False
    by_name = {tool.name: tool for tool in tools}
    assert by_name["aws_list_accounts"].input_schema["properties"] == {}
    assert by_name["aws_request_access"].input_schema["properties"]["source_context"]["additionalProperties"] is False
    assert "turn_initiator" not in by_name["aws_request_access"].input_schema["properties"]
    assert by_name["aws_describe_scope"].annotations.read_only_hint is True
    assert by_name["aws_request_access"].annotations is None


@pytest.mark.parametrize("name", TOOLS)
def test_advertised_schema_and_enforcing_model_agree(name: str) -> None:
    schema, model = tool_models()[name]
    assert set(schema["properties"]) == set(model.model_fields)
    required = {field for field, info in model.model_fields.items() if info.is_required()}
    assert set(schema.get("required", [])) == required
