"""Grant and tool-list changes for 2026-07-28 clients, on ``subscriptions/listen`` streams (SEP-2575).

Modern clients connect without ``initialize`` and hear changes only on the listen streams they
open; handshake-era clients keep their standing notifications. Both are fed by the same fan-out,
so one grant approval must reach a listener and a ``resources/subscribe`` session alike.

End to end through real SDK clients: in memory against the real broker app (embedded wiring, as
in test_mcp_events.py), and over stdio against ``python -m cloud_broker.mcp``. Waits are
event-driven with generous limits; nothing asserts on durations.
"""

from __future__ import annotations

import json
import tempfile
import uuid
from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.to_thread
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.subscriptions import (
    ResourcesListChanged,
    ResourceUpdated,
    ServerEvent,
    Subscription,
    ToolsListChanged,
)
from mcp_broker_stub import Reply, StubBroker
from mcp_embedded import WAIT_SECONDS, Embedded, connect_embedded
from mcp_harness import COMMAND, agt_env, process_env
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from tests.api.conftest import ACCOUNT, BrokerUnderTest, bt  # noqa: F401 - `bt` is the fixture, reused

pytestmark = pytest.mark.anyio
MODERN = "2026-07-28"
ROUTED = {"account_id": ACCOUNT, "actions": ["s3:PutObject"], "resources": ["arn:aws:s3:::reports/*"],
          "regions": ["us-east-1"]}


@pytest.fixture
async def modern(bt: BrokerUnderTest) -> AsyncIterator[Embedded]:  # noqa: F811 - the fixture above
    async with connect_embedded(bt.client.app, bt.tokens, bt.agent_id, mode="auto") as session:
        assert session.client.protocol_version == MODERN
        yield session


@pytest.fixture
async def legacy(bt: BrokerUnderTest) -> AsyncIterator[Embedded]:  # noqa: F811
    async with connect_embedded(bt.client.app, bt.tokens, bt.agent_id) as session:
        yield session


async def request_routed(client: Client) -> str:
    result = await client.call_tool("aws_request_access", ROUTED)
    assert not result.is_error, result.content[0].text
    return str(json.loads(result.content[0].text)["grant_id"])


async def create_elsewhere(bt: BrokerUnderTest, session: Embedded) -> str:  # noqa: F811
    """A grant of this agent and run created past the MCP server: it first learns of it from the stream."""
    body = {**ROUTED, "agent_id": bt.agent_id, "run_id": session.run_id}
    reply = await anyio.to_thread.run_sync(lambda: bt.client.post("/aws/grants", json=body, headers=bt.headers()))
    return str(reply.json()["grant_id"])


async def approve(bt: BrokerUnderTest, grant_id: str) -> None:  # noqa: F811
    await anyio.to_thread.run_sync(bt.broker.approvals.approve, grant_id, "alice")


async def status(client: Client, uri: str) -> str:
    (content,) = (await client.read_resource(uri, cache_mode="bypass")).contents
    return str(json.loads(content.text)["status"])


async def next_event(subscription: Subscription) -> ServerEvent:
    with anyio.fail_after(WAIT_SECONDS):
        return await anext(subscription)


async def until(subscription: Subscription, wanted: ServerEvent) -> list[ServerEvent]:
    """Every event up to and including ``wanted``."""
    seen = [await next_event(subscription)]
    while seen[-1] != wanted:
        seen.append(await next_event(subscription))
    return seen


async def test_a_modern_client_is_told_listen_serves_subscriptions_and_list_changes(modern: Embedded) -> None:
    capabilities = modern.client.server_capabilities
    assert capabilities.tools.list_changed is True
    assert (capabilities.resources.subscribe, capabilities.resources.list_changed) == (True, True)


async def test_a_listener_hears_its_grant_approved_and_a_new_grant_listed_and_nothing_it_did_not_ask_for(
    bt: BrokerUnderTest, modern: Embedded  # noqa: F811
) -> None:
    grant_id = await request_routed(modern.client)
    uri = f"grant://{grant_id}"
    async with (
        modern.client.listen(resources_list_changed=True, resource_subscriptions=[uri]) as follower,
        modern.client.listen(resources_list_changed=True, resource_subscriptions=[f"grant://{uuid.uuid4()}"])
        as bystander,
    ):
        assert follower.honored.resource_subscriptions == [uri]
        await approve(bt, grant_id)
        # A level trigger: the grant's own "pending" event may come first, so read on each until active.
        assert await next_event(follower) == ResourceUpdated(uri)
        while await status(modern.client, uri) != "active":
            assert await next_event(follower) == ResourceUpdated(uri)

        other = await create_elsewhere(bt, modern)
        assert set(await until(follower, ResourcesListChanged())) <= {ResourceUpdated(uri), ResourcesListChanged()}
        # Each stream is delivered in order, so had the approval reached the bystander, it would come first.
        assert await next_event(bystander) == ResourcesListChanged()
    listed = [r.uri for r in (await modern.client.list_resources(cache_mode="bypass")).resources]
    assert listed == [uri, f"grant://{other}"]
    assert modern.warnings == []


async def test_one_approval_reaches_a_listener_and_a_2025_era_subscriber_of_the_same_server(
    bt: BrokerUnderTest, legacy: Embedded  # noqa: F811
) -> None:
    grant_id = await request_routed(legacy.client)
    uri = f"grant://{grant_id}"
    await legacy.subscribe(uri)
    async with (
        Client(legacy.app.server, mode="auto") as modern,
        modern.listen(resource_subscriptions=[uri]) as listener,
    ):
        assert modern.protocol_version in MODERN_PROTOCOL_VERSIONS
        await approve(bt, grant_id)
        await legacy.heard.log_when(grant_id, "active")
        assert uri in legacy.heard.updated
        assert await next_event(listener) == ResourceUpdated(uri)


async def test_a_first_seen_grant_is_announced_to_a_listener_as_a_list_change(
    bt: BrokerUnderTest, modern: Embedded  # noqa: F811
) -> None:
    async with modern.client.listen(resources_list_changed=True) as listener:
        grant_id = await create_elsewhere(bt, modern)
        assert await next_event(listener) == ResourcesListChanged()
    listed = [r.uri for r in (await modern.client.list_resources(cache_mode="bypass")).resources]
    assert listed == [f"grant://{grant_id}"]


async def test_the_acknowledgement_names_only_what_can_ever_fire(modern: Embedded) -> None:
    grant_id = str(uuid.uuid4())
    asked = [f"grant://{grant_id}", f"grant://{grant_id.upper()}", "grant://not-a-grant", "file:///etc/passwd"]
    async with modern.client.listen(prompts_list_changed=True, tools_list_changed=True,
                                    resource_subscriptions=asked) as listener:
        honored = listener.honored
    assert honored.resource_subscriptions == [f"grant://{grant_id}"]
    assert honored.tools_list_changed is True
    assert not honored.prompts_list_changed and not honored.resources_list_changed


async def test_over_stdio_a_modern_listener_hears_the_late_inventory_as_a_tool_list_change(stub: StubBroker) -> None:
    """The real process, discovered at 2026-07-28 (no ``initialize``): the inventory is answered
    only after 2 s, after start-up stopped waiting for it (1 s), so it arrives as a change."""
    stub.reply("GET", "/aws/inventory", Reply(json={"accounts": [{"account_id": ACCOUNT}]}, delay=2.0))
    params = StdioServerParameters(command=COMMAND[0], args=COMMAND[1:], env=process_env(agt_env(stub)))
    with tempfile.TemporaryFile("w+") as errlog:
        async with Client(stdio_client(params, errlog=errlog), mode="auto") as client:
            assert client.protocol_version == MODERN
            capabilities: Any = client.server_capabilities
            assert capabilities.tools.list_changed is True
            assert (capabilities.resources.subscribe, capabilities.resources.list_changed) == (True, True)
            async with client.listen(tools_list_changed=True) as listener:
                # Opened before the reply lands? Then the change is still to come; otherwise the
                # listing already shows it. Either way nothing here depends on timing.
                before = await client.list_tools(cache_mode="bypass")
                if not any(ACCOUNT in (tool.description or "") for tool in before.tools):
                    assert await next_event(listener) == ToolsListChanged()
            after = await client.list_tools(cache_mode="bypass")
    assert any(ACCOUNT in (tool.description or "") for tool in after.tools)
