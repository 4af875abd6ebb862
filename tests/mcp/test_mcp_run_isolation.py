"""One ``cloud-broker mcp`` process serves one run: it hears that run's grants and no other's.

The broker is asked for the run's events only, from the run's first event, so an approval that
lands while the broker could not be reached at start-up is still delivered; whatever of another
run arrives all the same is dropped unless the grant is already known here. End to end against
the real broker app (embedded wiring, as in test_mcp_events.py), plus the rules alone.
Waits are event-driven with generous limits; nothing asserts on durations.
"""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import parse_qsl

import anyio
import anyio.to_thread
import httpx
import pytest
from mcp_broker_stub import Reply, StubBroker
from mcp_embedded import WAIT_SECONDS, Embedded, connect_embedded
from mcp_harness import AGENT_ID, RUN_ID, make_settings

from cloud_broker.mcp.grants import GrantResources
from cloud_broker.mcp.server import open_app
from tests.api.conftest import ACCOUNT, BrokerUnderTest, bt  # noqa: F401 - `bt` is the fixture, reused

pytestmark = pytest.mark.anyio
ROUTED = {"account_id": ACCOUNT, "actions": ["s3:PutObject"], "resources": ["arn:aws:s3:::reports/*"],
          "regions": ["us-east-1"]}


async def request_routed(session: Embedded) -> str:
    result = await session.client.call_tool("aws_request_access", ROUTED)
    assert not result.is_error, result.content[0].text
    return str(json.loads(result.content[0].text)["grant_id"])


async def file_in_run(bt: BrokerUnderTest, run_id: str) -> str:  # noqa: F811
    """A grant of the session's agent filed past the MCP server, in ``run_id``."""
    body = {**ROUTED, "agent_id": bt.agent_id, "run_id": run_id}
    reply = await anyio.to_thread.run_sync(lambda: bt.client.post("/aws/grants", json=body, headers=bt.headers()))
    assert reply.status_code == 200, reply.text
    return str(reply.json()["grant_id"])


async def approve(bt: BrokerUnderTest, grant_id: str) -> None:  # noqa: F811
    await anyio.to_thread.run_sync(bt.broker.approvals.approve, grant_id, "alice")


async def test_another_runs_grants_of_the_same_agent_never_reach_the_session(bt: BrokerUnderTest) -> None:  # noqa: F811
    async with connect_embedded(bt.client.app, bt.tokens, bt.agent_id) as session:
        # Filed and approved first: had the stream leaked it, its events would come before our own.
        other = await file_in_run(bt, str(uuid.uuid4()))
        await approve(bt, other)
        own = await request_routed(session)
        await session.heard.log_when(own, "pending")
        listed = (await session.client.list_resources(cache_mode="bypass")).resources
    assert {log.data["grant_id"] for log in session.heard.logs} == {own}
    assert [r.uri for r in listed] == [f"grant://{own}"]


class GatedStreams(httpx.AsyncBaseTransport):
    """The broker as the event stream sees it: unreachable until ``opened``; other calls pass."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner
        self.opened = False
        self.refused = anyio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not self.opened and "text/event-stream" in request.headers.get("accept", ""):
            self.refused.set()
            raise httpx.ConnectError("connection refused", request=request)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


async def test_an_approval_while_the_broker_was_unreachable_at_start_up_is_still_delivered(
    bt: BrokerUnderTest,  # noqa: F811
) -> None:
    gates: list[GatedStreams] = []

    def wrap(inner: httpx.AsyncBaseTransport) -> httpx.AsyncBaseTransport:
        gates.append(GatedStreams(inner))
        return gates[0]

    async with connect_embedded(bt.client.app, bt.tokens, bt.agent_id, wrap=wrap, wait_live=False) as session:
        (gate,) = gates
        with anyio.fail_after(WAIT_SECONDS):
            await gate.refused.wait()
        grant_id = await request_routed(session)
        await approve(bt, grant_id)
        gate.opened = True
        log = await session.heard.log_when(grant_id, "active")
    assert "approved by alice" in log.data["message"]
    assert session.heard.log_for(grant_id, "pending") is not None
    assert [line.split(":")[0] for line in session.warnings] == ["grant_events_unreachable"]


async def test_the_subscriber_asks_for_its_runs_events_from_the_runs_start(stub: StubBroker) -> None:
    stub.reply("GET", "/aws/events", Reply(status=503, json={"error": "down for maintenance"}))
    warned: list[str] = []
    async with open_app(make_settings(stub), grant_events=True, warn=warned.append):
        with anyio.fail_after(WAIT_SECONDS):
            while not stub.calls("/aws/events"):
                await anyio.sleep(0.01)
    first = stub.calls("/aws/events")[0]
    assert parse_qsl(first.query) == [("run_id", RUN_ID), ("after", "0"), ("agent_id", AGENT_ID)]
    assert "last-event-id" not in first.headers


# --- the rules alone ---


class FakePeer:
    key = "peer"

    def __init__(self) -> None:
        self.heard: list[tuple[str, Any]] = []

    async def tool_list_changed(self) -> None:
        self.heard.append(("tools_changed", None))

    async def resource_updated(self, uri: str) -> None:
        self.heard.append(("updated", uri))

    async def resource_list_changed(self) -> None:
        self.heard.append(("list_changed", None))

    async def log(self, level: str, logger: str, data: Any) -> None:
        self.heard.append(("log", data["grant_id"]))


def event(run_id: str | None, grant_id: str | None = None, status: str = "pending") -> dict[str, Any]:
    body = {"grant_id": grant_id or str(uuid.uuid4()), "status": status, "account_id": ACCOUNT,
            "actions": ["s3:PutObject"], "message": "… approved; call aws_get_credentials …"}
    return body if run_id is None else {**body, "run_id": run_id}


async def test_events_of_another_run_are_dropped_unless_the_grant_is_known_here() -> None:
    grants = GrantResources(None, warn=pytest.fail, run_id=RUN_ID.upper())  # type: ignore[arg-type]
    peer = FakePeer()
    grants.join(peer)
    for stray in (event(str(uuid.uuid4())), event(None), event("")):
        await grants.publish(stray)
    assert peer.heard == [] and grants.listing() == []

    ours = event(RUN_ID)
    await grants.publish(ours)
    assert [what for what, _ in peer.heard] == ["list_changed", "log"]

    # Filed here with a run the caller chose: known, so its news is still told.
    chosen = str(uuid.uuid4())
    await grants.remember("aws", {"grant_id": chosen, "status": "pending"})
    peer.heard.clear()
    await grants.publish(event(str(uuid.uuid4()), chosen, "active"))
    assert peer.heard == [("log", chosen)]
    assert [(s.grant_id, s.status) for s in grants.listing()] == [(ours["grant_id"], "pending"), (chosen, "active")]


async def test_the_known_grants_are_bounded_to_the_most_recent() -> None:
    grants = GrantResources(None, warn=pytest.fail, run_id=RUN_ID, max_known=3)  # type: ignore[arg-type]
    seen = [str(uuid.uuid4()) for _ in range(5)]
    for grant_id in seen:
        await grants.publish(event(RUN_ID, grant_id))
    await grants.publish(event(RUN_ID, seen[2], "active"))
    assert [(s.grant_id, s.status) for s in grants.listing()] == [
        (seen[2], "active"), (seen[3], "pending"), (seen[4], "pending")]
