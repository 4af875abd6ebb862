"""``credentials_delivery: runtime_only`` through our MCP server: the tool descriptions say so,
and no tool result carries a credential value — against a stub (the rules) and against the real
broker app wired as ``cloud-broker mcp --config`` does it (every tool of both families' flows)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio.to_thread
import pytest
from mcp_broker_stub import Reply, StubBroker
from mcp_embedded import connect_embedded
from mcp_harness import GRANT, connect

from cloud_broker.families.aws.tools import GET_CREDENTIALS, GET_CREDENTIALS_RUNTIME_ONLY
from cloud_broker.families.gcp.tools import GET_CREDENTIALS as GCP_GET_CREDENTIALS
from tests.api.conftest import ACCOUNT, READ_REPORTS, BrokerUnderTest, broker_under_test

pytestmark = pytest.mark.anyio
# Key-shaped values are assembled, so that no key-shaped literal stands in the tree for scanners.
VALUES = {"access_key_id": "ASIA" + "VALUEVALUEVALUE1", "secret_access_key": "s3cr3t-VALUE-never-shown-0123456789",
          "session_token": "T0KEN-VALUE-never-shown-abcdefghijklmnop"}


async def _descriptions(session: Any) -> dict[str, str]:
    return {tool.name: tool.description for tool in (await session.client.list_tools(cache_mode="refresh")).tools}


async def test_a_runtime_only_team_gets_the_runtime_only_description(stub: StubBroker) -> None:
    stub.reply("GET", "/aws/inventory", Reply(json={"accounts": [], "credentials_delivery": "runtime_only"}))
    stub.reply("GET", "/gcp/inventory", Reply(json={"projects": [], "credentials_delivery": "inline"}))
    async with connect(stub) as session:
        found = await _descriptions(session)
    assert found["aws_get_credentials"].startswith(GET_CREDENTIALS_RUNTIME_ONLY)
    assert "credential-process" not in found["aws_request_access"]
    assert found["gcp_get_credentials"].startswith(GCP_GET_CREDENTIALS)


async def test_a_broker_that_does_not_say_keeps_the_inline_description(stub: StubBroker) -> None:
    async with connect(stub) as session:
        found = await _descriptions(session)
    assert found["aws_get_credentials"].startswith(GET_CREDENTIALS)


async def test_values_a_runtime_only_broker_sends_anyway_are_dropped(stub: StubBroker) -> None:
    stub.reply("GET", "/aws/inventory", Reply(json={"accounts": [], "credentials_delivery": "runtime_only"}))
    stub.reply("POST", f"/aws/grants/{GRANT}/credentials",
               Reply(json={"grant_id": GRANT, "expires_at": "2030-01-01T00:00:00Z", "credentials": VALUES}))
    async with connect(stub) as session:
        text, is_error = await session.call("aws_get_credentials", {"grant_id": GRANT})
    assert not is_error and json.loads(text) == {"grant_id": GRANT, "expires_at": "2030-01-01T00:00:00Z"}


async def test_an_inline_team_still_gets_its_values(stub: StubBroker) -> None:
    stub.reply("POST", f"/aws/grants/{GRANT}/credentials", Reply(json={"grant_id": GRANT, "credentials": VALUES}))
    async with connect(stub) as session:
        reply = await session.call_json("aws_get_credentials", {"grant_id": GRANT})
    assert reply["credentials"] == VALUES


@pytest.fixture
def rt(emulator: Any, tmp_path: Path) -> Iterator[BrokerUnderTest]:
    def runtime_only(raw: dict[str, Any]) -> None:
        raw["teams"][0]["credentials_delivery"] = "runtime_only"

    with broker_under_test(emulator, tmp_path, edit_config=runtime_only) as under_test:
        yield under_test


async def test_no_tool_result_carries_a_value_when_the_team_is_runtime_only(rt: BrokerUnderTest) -> None:
    read = {k: v for k, v in READ_REPORTS.items() if k != "account_id"}
    texts: list[str] = []
    async with connect_embedded(rt.client.app, rt.tokens, rt.agent_id) as session:
        descriptions = await _descriptions(session)

        async def call(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
            result = await session.client.call_tool(name, arguments)
            texts.append(result.content[0].text)
            return json.loads(result.content[0].text) if not result.is_error else {}

        await call("aws_list_accounts", {})
        await call("aws_describe_scope", {"account_id": ACCOUNT})
        await call("aws_preview_request", {"account_id": ACCOUNT, **read})
        grant = await call("aws_request_access", {"account_id": ACCOUNT, **read})
        await call("aws_poll_grant", {"grant_id": grant["grant_id"]})
        pointer = await call("aws_get_credentials", {"grant_id": grant["grant_id"]})
        resources = await session.client.list_resources(cache_mode="bypass")
        for resource in resources.resources:
            read_back = await session.client.read_resource(str(resource.uri))
            texts.extend(content.text for content in read_back.contents if hasattr(content, "text"))
        resolved = await anyio.to_thread.run_sync(lambda: rt.client.post(
            "/secret-refs/resolve", headers=rt.headers(),
            json={"secret_ref": grant["secret_ref"], "agent_id": rt.agent_id, "mechanism": "exec"}).json())
        await call("aws_release_access", {"grant_id": grant["grant_id"]})
        await call("aws_get_credentials", {"grant_id": grant["grant_id"]})
    assert descriptions["aws_get_credentials"].startswith(GET_CREDENTIALS_RUNTIME_ONLY)
    assert pointer["credentials_delivery"] == "runtime_only" and pointer["secret_ref"] == grant["secret_ref"]
    values = resolved["credentials"]
    assert set(values) == {"access_key_id", "secret_access_key", "session_token"}
    everything = "\n".join(texts + list(descriptions.values()))
    for value in values.values():
        assert value not in everything
    assert "credentials\"" not in everything.replace("\"credentials_delivery\"", "")
