"""Grant outcomes pushed to the agent: the broker's event stream turned into MCP notifications.

End to end through a real MCP client session, the MCP server and the real broker app wired as
the embedded mode wires them (in-process, streaming ASGI transport, minting on the emulator).
Waits are event-driven with generous timeouts; nothing asserts on durations.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.to_thread
import httpx
import pytest
from mcp.shared.exceptions import MCPError
from mcp_embedded import Embedded, connect_embedded
from mcp_types import INVALID_PARAMS

from cloud_broker.client.errors import BrokerCallError
from cloud_broker.mcp.events import GrantEventStream
from cloud_broker.mcp.grants import GrantResources
from tests.api.conftest import ACCOUNT, BrokerUnderTest, bt  # noqa: F401 - `bt` is the fixture, reused

pytestmark = pytest.mark.anyio
ROUTED = {"account_id": ACCOUNT, "actions": ["s3:PutObject"], "resources": ["arn:aws:s3:::reports/*"],
          "regions": ["us-east-1"]}


@pytest.fixture
async def agent(bt: BrokerUnderTest) -> AsyncIterator[Embedded]:  # noqa: F811 - the fixture above
    async with connect_embedded(bt.client.app, bt.tokens, bt.agent_id) as session:
        yield session


async def request_routed(session: Embedded) -> str:
    result = await session.client.call_tool("aws_request_access", ROUTED)
    assert not result.is_error, result.content[0].text
    reply = json.loads(result.content[0].text)
    assert reply["status"] == "pending"
    return str(reply["grant_id"])


async def approve(bt: BrokerUnderTest, grant_id: str) -> None:  # noqa: F811
    await anyio.to_thread.run_sync(bt.broker.approvals.approve, grant_id, "alice")


async def read(session: Embedded, uri: str) -> dict[str, Any]:
    result = await session.client.read_resource(uri, cache_mode="bypass")
    (content,) = result.contents
    assert (content.uri, content.mime_type) == (uri, "application/json")
    return json.loads(content.text)


async def test_capabilities_advertise_subscribable_resources_next_to_the_tools(agent: Embedded) -> None:
    capabilities = agent.client.server_capabilities
    assert capabilities.tools.list_changed is True
    assert (capabilities.resources.subscribe, capabilities.resources.list_changed) == (True, True)
    assert capabilities.logging is not None


async def test_a_subscribed_pending_grant_is_updated_when_approved_and_then_reads_active(
    bt: BrokerUnderTest, agent: Embedded  # noqa: F811
) -> None:
    grant_id = await request_routed(agent)
    uri = f"grant://{grant_id}"
    listed = (await agent.client.list_resources(cache_mode="bypass")).resources
    assert [(r.uri, r.mime_type) for r in listed] == [(uri, "application/json")]
    assert grant_id in listed[0].name and "s3:PutObject" in (listed[0].description or "")
    await agent.subscribe(uri)
    assert (await read(agent, uri))["status"] == "pending"

    await approve(bt, grant_id)
    log = await agent.heard.log_when(grant_id, "active")

    assert uri in agent.heard.updated
    assert (log.level, log.logger) == ("info", "cloud-broker")
    assert grant_id in log.data["message"] and "approved by alice" in log.data["message"]
    grant = await read(agent, uri)
    assert (grant["grant_id"], grant["status"]) == (grant_id, "active")
    assert "credentials" not in grant and grant["expires_at"]
    assert agent.warnings == []


async def test_after_unsubscribing_only_the_log_message_arrives(
    bt: BrokerUnderTest, agent: Embedded  # noqa: F811
) -> None:
    grant_id = await request_routed(agent)
    uri = f"grant://{grant_id}"
    await agent.subscribe(uri)
    await agent.unsubscribe(uri)
    await approve(bt, grant_id)
    # The log message is sent after any update of the same event, so none can still be on its way.
    await agent.heard.log_when(grant_id, "active")
    assert uri not in agent.heard.updated


async def test_a_grant_first_seen_in_the_stream_is_announced_and_listed(
    bt: BrokerUnderTest, agent: Embedded  # noqa: F811
) -> None:
    body = {**ROUTED, "agent_id": bt.agent_id, "run_id": agent.run_id}
    reply = await anyio.to_thread.run_sync(lambda: bt.client.post("/aws/grants", json=body, headers=bt.headers()))
    grant_id = reply.json()["grant_id"]
    log = await agent.heard.log_when(grant_id, "pending")
    assert "waiting for approval" in log.data["message"]
    assert agent.heard.list_changed == 1
    listed = (await agent.client.list_resources(cache_mode="bypass")).resources
    assert [r.uri for r in listed] == [f"grant://{grant_id}"]


async def test_another_agents_grants_never_reach_this_session(
    bt: BrokerUnderTest, agent: Embedded  # noqa: F811
) -> None:
    other = {**ROUTED, "agent_id": bt.other_agent_id, "run_id": str(uuid.uuid4())}
    await anyio.to_thread.run_sync(lambda: bt.client.post("/aws/grants", json=other, headers=bt.headers()))
    own = await request_routed(agent)
    await agent.heard.log_when(own, "pending")
    assert {log.data["grant_id"] for log in agent.heard.logs} == {own}


@pytest.mark.parametrize("uri", [f"grant://{uuid.uuid4()}", "grant://not-a-grant", "file:///etc/passwd"])
async def test_reading_an_unknown_or_malformed_grant_uri_is_an_invalid_params_error(agent: Embedded, uri: str) -> None:
    with pytest.raises(MCPError) as refused:
        await agent.client.read_resource(uri, cache_mode="bypass")
    assert refused.value.code == INVALID_PARAMS
    assert refused.value.data == {"uri": uri}


async def test_another_agents_grant_reads_as_unknown(
    bt: BrokerUnderTest, agent: Embedded  # noqa: F811
) -> None:
    body = {**ROUTED, "agent_id": bt.other_agent_id, "run_id": str(uuid.uuid4())}
    reply = await anyio.to_thread.run_sync(lambda: bt.client.post("/aws/grants", json=body, headers=bt.headers()))
    with pytest.raises(MCPError) as refused:
        await agent.client.read_resource(f"grant://{reply.json()['grant_id']}", cache_mode="bypass")
    assert refused.value.code == INVALID_PARAMS and "not found" in refused.value.message


async def test_subscribing_to_a_malformed_uri_is_refused(agent: Embedded) -> None:
    with pytest.raises(MCPError) as refused:
        await agent.subscribe("grant://nope")
    assert refused.value.code == INVALID_PARAMS


async def test_the_resource_template_names_the_grant_scheme(agent: Embedded) -> None:
    templates = (await agent.client.list_resource_templates(cache_mode="bypass")).resource_templates
    assert [t.uri_template for t in templates] == ["grant://{grant_id}"]


# --- the stream consumer alone: reconnects, backoff, resume, one stderr line per kind ---


class Stop(BaseException):
    """Ends GrantEventStream.run (which swallows every Exception) once the script is played."""


def sse(*frames: tuple[int, str, str]) -> bytes:
    return b"".join(f"id: {i}\nevent: {kind}\ndata: {data}\n\n".encode() for i, kind, data in frames)


class ScriptedEvents:
    """Stands in for AwsBrokerApi.events: each connection plays the next step of the script."""

    def __init__(self, *script: bytes | httpx.Response | Exception) -> None:
        self.script = list(script)
        self.resumed_from: list[str | None] = []

    @asynccontextmanager
    async def events(self, last_event_id: str | None = None) -> AsyncIterator[httpx.Response]:
        self.resumed_from.append(last_event_id)
        if not self.script:
            raise Stop
        step = self.script.pop(0)
        if isinstance(step, Exception):
            raise step
        if isinstance(step, httpx.Response):
            yield step
        else:
            yield httpx.Response(200, headers={"content-type": "text/event-stream"}, content=step)


async def test_the_stream_resumes_from_the_last_id_backs_off_and_reports_each_failure_kind_once() -> None:
    grant = {"grant_id": str(uuid.uuid4()), "status": "active", "message": "PRIVATE-TEXT"}
    script = ScriptedEvents(
        sse((5, "ready", '{"after": 5}'), (6, "grant", json.dumps(grant)), (7, "grant", "PRIVATE-NOT-JSON")),
        BrokerCallError("connection refused"),
        BrokerCallError("connection refused"),
        BrokerCallError("AGENT_NOT_ALLOWED: nope", status=403),
        httpx.Response(200, json={"not": "sse"}),
        BrokerCallError("connection refused"),
        sse((9, "ready", '{"after": 9}')),
    )
    delivered: list[Any] = []
    delays: list[float] = []
    warned: list[str] = []

    async def on_event(event: Any) -> None:
        delivered.append(event)

    async def sleep(seconds: float) -> None:
        delays.append(seconds)

    stream = GrantEventStream(script, on_event, warned.append, sleep=sleep)  # type: ignore[arg-type]
    with pytest.raises(Stop):
        await stream.run()
    assert delivered == [grant]
    assert script.resumed_from == [None, "7", "7", "7", "7", "7", "7", "9"]
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 1.0]
    assert sorted(line.split(":")[0] for line in warned) == sorted(
        ["grant_events_bad_event", "grant_events_unreachable", "grant_events_refused_403",
         "grant_events_not_an_event_stream"])
    assert not any("PRIVATE" in line for line in warned)
    assert stream.live.is_set()


# --- the fan-out alone: who hears what ---


class FakePeer:
    def __init__(self, name: str, *, closed: bool = False) -> None:
        self.key = name
        self.closed = closed
        self.heard: list[tuple[str, Any]] = []

    def _record(self, what: str, value: Any) -> None:
        if self.closed:
            raise anyio.ClosedResourceError
        self.heard.append((what, value))

    async def resource_updated(self, uri: str) -> None:
        self._record("updated", uri)

    async def resource_list_changed(self) -> None:
        self._record("list_changed", None)

    async def log(self, level: str, logger: str, data: Any) -> None:
        self._record("log", (level, logger, data["grant_id"], data["status"]))


async def test_events_reach_subscribers_as_updates_and_everyone_as_logs_at_their_level() -> None:
    grants = GrantResources(None, warn=pytest.fail)  # type: ignore[arg-type] - read() is not used here
    follower, bystander, quiet, gone = FakePeer("f"), FakePeer("b"), FakePeer("q"), FakePeer("g", closed=True)
    for peer in (follower, bystander, quiet, gone):
        grants.join(peer)
    grant_id = str(uuid.uuid4())
    grants.subscribe(follower, f"grant://{grant_id.upper()}")
    grants.set_log_level(quiet, "warning")
    event = {"grant_id": grant_id, "status": "pending", "account_id": ACCOUNT, "actions": ["s3:PutObject"],
             "message": "waiting"}
    await grants.publish(event)
    await grants.publish({**event, "status": "active"})
    uri = f"grant://{grant_id}"
    assert follower.heard == [
        ("list_changed", None), ("updated", uri), ("log", ("info", "cloud-broker", grant_id, "pending")),
        ("updated", uri), ("log", ("info", "cloud-broker", grant_id, "active")),
    ]
    assert [what for what, _ in bystander.heard] == ["list_changed", "log", "log"]
    assert quiet.heard == [("list_changed", None)]
    assert [(s.grant_id, s.status) for s in grants.listing()] == [(grant_id, "active")]
    gone.closed = False
    await grants.remember("aws", {"grant_id": str(uuid.uuid4()), "status": "pending"})
    assert gone.heard == [], "a closed session is forgotten"
    assert [what for what, _ in bystander.heard][-1] == "list_changed"
