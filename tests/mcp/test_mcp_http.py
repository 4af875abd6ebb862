"""MCP over streamable HTTP at ``/mcp``: the stdio server's tools and resources, behind the host token.

Against the real broker app in this process (see :mod:`mcp_http`); every wait is bounded and
nothing asserts on durations.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import anyio
import anyio.to_thread
import pytest
from fastapi.testclient import TestClient
from mcp_embedded import WAIT_SECONDS, connect_embedded
from mcp_http import ACCEPT, INITIALIZE, http_mcp, notifications

from cloud_broker.api.app import create_app
from cloud_broker.api.routes_events import MAX_STREAMS_PER_HOST
from cloud_broker.cli.http_app import mount_mcp
from cloud_broker.errors import TooManyRequests
from cloud_broker.mcp.http_endpoint import SessionLimits
from tests.api.conftest import ACCOUNT, BrokerUnderTest, bt  # noqa: F401 - `bt` is the fixture, reused

pytestmark = pytest.mark.anyio
ROUTED = {"account_id": ACCOUNT, "actions": ["s3:PutObject"], "resources": ["arn:aws:s3:::reports/*"],
          "regions": ["us-east-1"]}


def wire(model: Any) -> Any:
    return model.model_dump(by_alias=True, exclude_none=True, mode="json")


async def test_a_session_offers_exactly_the_tools_resources_and_outputs_of_the_stdio_server(
    bt: BrokerUnderTest,  # noqa: F811
) -> None:
    async with http_mcp(bt) as mcp, connect_embedded(bt.client.app, bt.tokens, bt.agent_id) as stdio:
        session = await mcp.open()
        http_tools = (await session.rpc("tools/list"))["tools"]
        http_templates = (await session.rpc("resources/templates/list"))["resourceTemplates"]
        http_scope = await session.rpc("tools/call", {"name": "aws_describe_scope", "arguments": {"account_id": ACCOUNT}})
        stdio_tools = [wire(tool) for tool in (await stdio.client.list_tools()).tools]
        stdio_templates = [wire(t) for t in (await stdio.client.list_resource_templates()).resource_templates]
        stdio_scope = await stdio.client.call_tool("aws_describe_scope", {"account_id": ACCOUNT})
        stdio_capabilities = wire(stdio.client.server_capabilities)
    assert http_tools == stdio_tools and len(http_tools) >= 8
    assert http_templates == stdio_templates
    assert http_scope["content"][0]["text"] == stdio_scope.content[0].text
    assert session.initialized["capabilities"] == stdio_capabilities
    assert session.initialized["serverInfo"]["name"] == "cloud-broker"


async def test_a_grant_requested_over_http_is_listed_and_its_approval_is_pushed_to_the_session(
    bt: BrokerUnderTest,  # noqa: F811
) -> None:
    async with http_mcp(bt) as mcp:
        session = await mcp.open()
        reply = await session.rpc("tools/call", {"name": "aws_request_access", "arguments": ROUTED})
        grant_id = json.loads(reply["content"][0]["text"])["grant_id"]
        uri = f"grant://{grant_id}"
        listed = (await session.rpc("resources/list"))["resources"]
        await session.rpc("resources/subscribe", {"uri": uri})
        heard: list[dict[str, Any]] = []
        with anyio.fail_after(WAIT_SECONDS):
            stream = notifications(session)
            await anyio.to_thread.run_sync(bt.broker.approvals.approve, grant_id, "alice")
            async for message in stream:
                heard.append(message)
                if message.get("method") == "notifications/resources/updated":
                    break
            await stream.aclose()
        read = await session.rpc("resources/read", {"uri": uri})
    assert [r["uri"] for r in listed] == [uri]
    assert heard[-1]["params"] == {"uri": uri}
    assert json.loads(read["contents"][0]["text"])["status"] == "active"


async def test_the_sessions_broker_calls_carry_the_token_the_runtime_presented_last(
    bt: BrokerUnderTest,  # noqa: F811
) -> None:
    bearers: list[tuple[str, str]] = []
    async with http_mcp(bt, bearers=bearers) as mcp:
        session = await mcp.open()
        first = session.headers["Authorization"].partition(" ")[2]
        renewed = bt.tokens.issue("host-a")
        session.headers["Authorization"] = f"Bearer {renewed}"
        await session.rpc("tools/call", {"name": "aws_describe_scope", "arguments": {"account_id": ACCOUNT}})
    scope_calls = [bearer for path, bearer in bearers if path == "/aws/scope"]
    assert first != renewed and scope_calls == [renewed]
    assert {bearer for path, bearer in bearers if path.endswith("/inventory")} == {first}


@pytest.mark.parametrize(("authorization", "code"), [(None, "UNAUTHENTICATED"), ("Bearer not-a-token", "TOKEN_INVALID"),
                                                    ("Basic aG9zdDprZXk=", "UNAUTHENTICATED")])
async def test_no_or_a_bad_token_is_refused_with_401_and_opens_no_session(
    bt: BrokerUnderTest, authorization: str | None, code: str  # noqa: F811
) -> None:
    async with http_mcp(bt) as mcp:
        headers = mcp.headers()
        del headers["Authorization"]
        if authorization is not None:
            headers["Authorization"] = authorization
        response = await mcp.initialize(headers)
        assert mcp.endpoint.open_sessions() == 0
    assert response.status_code == 401
    assert response.json()["error_code"] == code, response.text
    assert set(response.json()) == {"error", "error_code", "request_id"} and "mcp-session-id" not in response.headers
    assert "not-a-token" not in response.text


async def test_the_agent_header_is_required_well_formed_and_an_agent_of_the_host(
    bt: BrokerUnderTest,  # noqa: F811
) -> None:
    async with http_mcp(bt) as mcp:
        missing = {k: v for k, v in mcp.headers().items() if k != "X-Agent-Id"}
        answers = [await mcp.initialize(missing),
                   await mcp.initialize({**missing, "X-Agent-Id": "../etc/passwd"}),
                   await mcp.initialize(mcp.headers(agent_id=bt.foreign_agent_id)),
                   await mcp.initialize({**mcp.headers(), "X-Run-Id": "run-1"})]
        assert mcp.endpoint.open_sessions() == 0
    assert [a.status_code for a in answers] == [400, 400, 403, 400]
    assert [a.json()["error_code"] for a in answers] == ["INVALID_INPUT", "INVALID_INPUT", "AGENT_NOT_ALLOWED",
                                                         "INVALID_INPUT"]
    assert "X-Agent-Id" in answers[0].json()["error"] and "passwd" not in answers[1].text


async def test_a_session_answers_only_its_own_host_and_agent(bt: BrokerUnderTest) -> None:  # noqa: F811
    async with http_mcp(bt) as mcp:
        session = await mcp.open()
        ping = {"jsonrpc": "2.0", "id": 9, "method": "ping"}
        other_agent = await session.post(ping, **{"X-Agent-Id": bt.other_agent_id})
        other_host = await session.post(ping, **mcp.headers("host-b", bt.foreign_agent_id))
        own = await session.post(ping)
    assert (other_agent.status_code, other_host.status_code, own.status_code) == (404, 404, 200)
    assert other_agent.json()["error_code"] == "SESSION_NOT_FOUND"


async def test_sessions_are_capped_per_host_and_in_total_and_a_delete_makes_room(
    bt: BrokerUnderTest,  # noqa: F811
) -> None:
    async with http_mcp(bt, SessionLimits(per_host=2, total=2)) as mcp:
        first = await mcp.open()
        await mcp.open(agent_id=bt.other_agent_id)
        over_host = await mcp.initialize(mcp.headers())
        over_total = await mcp.initialize(mcp.headers("host-b", bt.foreign_agent_id))
        held = mcp.endpoint.open_sessions()
        deleted = await first.delete()
        with anyio.fail_after(WAIT_SECONDS):
            while mcp.endpoint.open_sessions() > 1:
                await anyio.sleep(0.01)
        room = await mcp.open("host-b", bt.foreign_agent_id)
        gone = await first.post({"jsonrpc": "2.0", "id": 3, "method": "ping"})
    assert held == 2 and (over_host.status_code, over_total.status_code) == (429, 429)
    assert over_host.json()["error_code"] == over_total.json()["error_code"] == "TOO_MANY_SESSIONS"
    assert "host 'host-a'" in over_host.json()["error"] and "the broker holds 2" in over_total.json()["error"]
    assert deleted.status_code == 200 and room.session_id and gone.status_code == 404


async def test_one_agent_cannot_take_the_sessions_of_its_hosts_other_agents(
    bt: BrokerUnderTest,  # noqa: F811
) -> None:
    async with http_mcp(bt, SessionLimits(per_agent=2, per_host=3, total=8)) as mcp:
        first, second = await mcp.open(), await mcp.open()
        busy = [mcp.endpoint._sessions[s.session_id] for s in (first, second)]
        for session in busy:  # a request in flight on each, as an open GET stream would be
            session._touch(+1)
        over_agent = await mcp.initialize(mcp.headers())
        neighbour = await mcp.open(agent_id=bt.other_agent_id)
        held = mcp.endpoint.open_sessions("host-a")
        for session in busy:
            session._touch(-1)
    assert over_agent.status_code == 429 and over_agent.json()["error_code"] == "TOO_MANY_SESSIONS"
    assert f"agent {bt.agent_id} holds 2" in over_agent.json()["error"]
    assert neighbour.session_id and held == 3


async def test_at_its_cap_an_agents_new_session_replaces_its_longest_idle_one(
    bt: BrokerUnderTest,  # noqa: F811
) -> None:
    ping = {"jsonrpc": "2.0", "id": 7, "method": "ping"}
    async with http_mcp(bt, SessionLimits(per_agent=2, per_host=4, total=8)) as mcp:
        first, second = await mcp.open(), await mcp.open()
        neighbour = await mcp.open(agent_id=bt.other_agent_id)
        await second.post(ping)  # the first is now the longer idle
        with anyio.fail_after(WAIT_SECONDS):  # until their last requests have fully ended
            while not all(session.idle for session in mcp.endpoint._admissions):
                await anyio.sleep(0.01)
        third = await mcp.open()
        held = (mcp.endpoint.open_sessions("host-a"), mcp.endpoint.open_sessions())
        answers = [(await s.post(ping)).status_code for s in (first, second, third, neighbour)]
    assert third.session_id and held == (3, 3)
    assert answers == [404, 200, 200, 200]


async def test_a_replaced_session_winding_down_is_not_replaced_twice(bt: BrokerUnderTest) -> None:  # noqa: F811
    """Openings at the cap, before the replaced session's task has ended, must each find a
    session of their own to replace or be refused: the cap holds however fast they come."""
    async with http_mcp(bt, SessionLimits(per_agent=2, per_host=8, total=8)) as mcp:
        await mcp.open(), await mcp.open()
        with anyio.fail_after(WAIT_SECONDS):  # until their last requests have fully ended
            while not all(session.idle for session in mcp.endpoint._admissions):
                await anyio.sleep(0.01)
        owner = next(iter(mcp.endpoint._admissions)).owner
        admitted = [mcp.endpoint._admit(owner) for _ in range(2)]  # each replaces one idle session
        with pytest.raises(TooManyRequests):
            mcp.endpoint._admit(owner)
        held = mcp.endpoint._held_by[owner]
        for ticket in admitted:
            ticket.release()
    assert held == 2


def test_every_session_a_host_may_hold_can_follow_its_grant_events() -> None:
    assert SessionLimits().per_host < MAX_STREAMS_PER_HOST


async def test_an_idle_session_is_closed_and_its_id_then_answers_404(bt: BrokerUnderTest) -> None:  # noqa: F811
    async with http_mcp(bt, SessionLimits(idle_seconds=0.05)) as mcp:
        session = await mcp.open()
        with anyio.fail_after(WAIT_SECONDS):
            while mcp.endpoint.open_sessions():
                await anyio.sleep(0.01)
        gone = await session.post({"jsonrpc": "2.0", "id": 3, "method": "ping"})
    assert gone.status_code == 404 and gone.json()["error_code"] == "SESSION_NOT_FOUND"


async def test_oversized_bodies_later_protocol_versions_and_sessionless_gets_are_refused(
    bt: BrokerUnderTest,  # noqa: F811
) -> None:
    async with http_mcp(bt) as mcp:
        big = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"pad": "x" * (600 * 1024)}}
        too_big = await mcp.http.post("/mcp", json=big, headers=mcp.headers())
        modern = await mcp.initialize({**mcp.headers(), "Mcp-Protocol-Version": "2026-07-28"})
        get = await mcp.http.get("/mcp", headers=mcp.headers())
        unknown = await mcp.http.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                                      headers={**mcp.headers(), "Mcp-Session-Id": uuid.uuid4().hex})
        assert mcp.endpoint.open_sessions() == 0
    assert (too_big.status_code, too_big.json()["error_code"]) == (413, "PAYLOAD_TOO_LARGE")
    assert (modern.status_code, get.status_code, unknown.status_code) == (400, 400, 404)
    assert "initialize" in modern.json()["error"] and "mcp-session-id" in get.json()["error"]




def test_the_apps_lifespan_runs_the_endpoint_as_uvicorn_does(bt: BrokerUnderTest) -> None:  # noqa: F811
    app = create_app(bt.broker, bt.tokens)
    endpoint = mount_mcp(app, bt.broker, bt.tokens)
    initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": INITIALIZE}
    headers = {**bt.headers(), "X-Agent-Id": bt.agent_id, "Accept": ACCEPT}
    with TestClient(app) as client:
        opened = client.post("/mcp", json=initialize, headers=headers)
        held = endpoint.open_sessions()
    assert opened.status_code == 200 and opened.headers["mcp-session-id"] and held == 1
    assert endpoint.open_sessions() == 0  # the lifespan's end closed it


def test_a_session_is_released_once_however_many_paths_end_it() -> None:
    """A cancelled opening request and the session's own task may both release it; a second
    release must not free a place another session holds (the caps could then be passed)."""
    from cloud_broker.mcp.http_endpoint import McpHttpEndpoint
    from cloud_broker.mcp.http_session import Owner

    endpoint = McpHttpEndpoint(object(), SessionLimits(per_agent=2, per_host=2, total=2))
    owner = Owner("host-a", str(uuid.uuid4()))
    first, _second = endpoint._admit(owner), endpoint._admit(owner)
    first.release()
    first.release()
    assert endpoint.open_sessions("host-a") == endpoint.open_sessions() == 1
