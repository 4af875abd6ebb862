"""``GET /aws/events``: grant outcomes as Server-Sent Events, over a real socket.

The stream never ends, and the in-process test client buffers whole responses, so the app is
served by uvicorn on 127.0.0.1 in a thread and read with httpx streaming. Every read has a
timeout so a missing event fails the test instead of hanging it; nothing asserts on wall time.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.requests import Request

from cloud_broker.api import routes_events
from tests.api.conftest import BrokerUnderTest

pytestmark = pytest.mark.both_stores

ROUTED = {"actions": ["s3:PutObject"], "resources": ["arn:aws:s3:::reports/*"]}
READ_TIMEOUT = httpx.Timeout(30.0)


class LiveBroker:
    """The ``bt`` app under uvicorn in a background thread, on a free local port."""

    def __init__(self, bt: BrokerUnderTest) -> None:
        self.app = bt.client.app
        config = uvicorn.Config(self.app, log_level="critical", access_log=False, lifespan="off",
                                timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True)

    def __enter__(self) -> LiveBroker:
        self._thread.start()
        _wait_until(lambda: self._server.started, "uvicorn did not start")
        return self

    def __exit__(self, *_: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()


@dataclass
class Stream:
    """An open event stream: frames are read one at a time; the raw text is kept for scanning."""

    lines: Iterator[str]
    raw: list[str] = field(default_factory=list)

    def next_frame(self) -> dict[str, str]:
        frame: dict[str, str] = {}
        for line in self.lines:
            self.raw.append(line)
            if line == "":
                if frame:
                    return frame
                continue
            name, _, value = line.partition(":")
            frame[name or "comment"] = value.removeprefix(" ")
        raise AssertionError("the stream ended")

    def next_grant(self) -> tuple[int, dict[str, Any]]:
        """The next ``grant`` event (keepalives and other kinds skipped): its id and data."""
        while True:
            frame = self.next_frame()
            if frame.get("event") == "grant":
                return int(frame["id"]), json.loads(frame["data"])


@pytest.fixture
def live(bt: BrokerUnderTest) -> Iterator[LiveBroker]:
    with LiveBroker(bt) as running:
        yield running


@contextmanager
def open_stream(bt: BrokerUnderTest, live: LiveBroker, *, agent_id: str | None = None, host: str = "host-a",
                headers: dict[str, str] | None = None, **params: Any) -> Iterator[Stream]:
    query = {"agent_id": agent_id or bt.agent_id, **params}
    with httpx.Client(timeout=READ_TIMEOUT) as http, http.stream(
        "GET", f"{live.url}/aws/events", params=query, headers={**bt.headers(host), **(headers or {})}
    ) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        stream = Stream(response.iter_lines())
        ready = stream.next_frame()
        assert ready["event"] == "ready" and json.loads(ready["data"]) == {"after": int(ready["id"])}
        yield stream


def request_grant(bt: BrokerUnderTest, agent_id: str | None = None, **overrides: Any) -> dict[str, Any]:
    body = bt.grant_body(**overrides)
    if agent_id is not None:
        body["agent_id"] = agent_id
    reply = bt.client.post("/aws/grants", json=body, headers=bt.headers())
    assert reply.status_code == 200, reply.text
    return reply.json()


def test_a_routed_grant_streams_pending_then_minting_then_active_without_secrets(
    bt: BrokerUnderTest, live: LiveBroker
) -> None:
    with open_stream(bt, live) as stream:
        grant_id = request_grant(bt, **ROUTED)["grant_id"]
        seq, pending = stream.next_grant()
        assert (pending["grant_id"], pending["status"], pending["event"]) == (grant_id, "pending", "grant.requested")
        assert pending["uri"] == f"grant://{grant_id}" and "waiting for approval" in pending["message"]
        bt.broker.approvals.approve(grant_id, "alice")
        minting_seq, minting = stream.next_grant()
        active_seq, active = stream.next_grant()
    assert seq < minting_seq < active_seq
    assert (minting["status"], active["status"]) == ("minting", "active")
    assert active["expires_at"].endswith("Z") and active["approved_by"] == ["alice"]
    assert "aws_get_credentials" in active["message"]
    creds = bt.client.post(f"/aws/grants/{grant_id}/credentials", params={"agent_id": bt.agent_id},
                           headers=bt.headers()).json()["credentials"]
    text = "\n".join(stream.raw)
    assert '"credentials":' not in text and "secret_ref" not in text
    for value in creds.values():
        assert value not in text


def test_an_auto_approved_grant_streams_minting_then_active(bt: BrokerUnderTest, live: LiveBroker) -> None:
    with open_stream(bt, live) as stream:
        grant_id = request_grant(bt)["grant_id"]
        statuses = [stream.next_grant()[1] for _ in range(2)]
    assert [(e["grant_id"], e["status"]) for e in statuses] == [(grant_id, "minting"), (grant_id, "active")]


@pytest.mark.parametrize("resume", ["header", "query"])
def test_resuming_skips_what_was_already_seen(bt: BrokerUnderTest, live: LiveBroker, resume: str) -> None:
    with open_stream(bt, live) as stream:
        grant_id = request_grant(bt, **ROUTED)["grant_id"]
        seen, _ = stream.next_grant()
    bt.broker.approvals.approve(grant_id, "alice")
    where = {"headers": {"Last-Event-ID": str(seen)}} if resume == "header" else {"after": seen}
    with open_stream(bt, live, **where) as stream:
        replayed = [stream.next_grant() for _ in range(2)]
    assert [e["status"] for _, e in replayed] == ["minting", "active"]
    assert all(seq > seen for seq, _ in replayed)


def test_last_event_id_wins_over_the_query_cursor(bt: BrokerUnderTest, live: LiveBroker) -> None:
    first = request_grant(bt, **ROUTED)["grant_id"]
    second = request_grant(bt, **ROUTED, run_id="44444444-4444-4444-8444-444444444444")["grant_id"]
    with open_stream(bt, live, after=0) as everything:
        (first_seq, _), (_, second_event) = everything.next_grant(), everything.next_grant()
    assert second_event["grant_id"] == second
    with open_stream(bt, live, after=0, headers={"Last-Event-ID": str(first_seq)}) as stream:
        _, event = stream.next_grant()
    assert event["grant_id"] == second != first


def test_a_new_stream_starts_at_the_head_and_never_replays_the_past(bt: BrokerUnderTest, live: LiveBroker) -> None:
    old = request_grant(bt, **ROUTED)["grant_id"]
    with open_stream(bt, live) as stream:
        new = request_grant(bt, **ROUTED, run_id="55555555-5555-4555-8555-555555555555")["grant_id"]
        _, event = stream.next_grant()
    assert event["grant_id"] == new != old


def test_other_agents_grants_are_never_delivered(bt: BrokerUnderTest, live: LiveBroker) -> None:
    with open_stream(bt, live) as stream:
        # Filed first: had the stream leaked it, it would arrive before our own grant's event.
        request_grant(bt, agent_id=bt.other_agent_id, **ROUTED)
        own = request_grant(bt, **ROUTED)["grant_id"]
        _, event = stream.next_grant()
    assert (event["grant_id"], event["agent_id"]) == (own, bt.agent_id)
    assert bt.other_agent_id not in "\n".join(stream.raw)


@pytest.mark.parametrize(("host", "agent"), [("host-a", "foreign_agent_id"), ("host-b", "agent_id")])
def test_a_host_may_not_follow_an_agent_it_does_not_serve(bt: BrokerUnderTest, host: str, agent: str) -> None:
    reply = bt.client.get("/aws/events", params={"agent_id": getattr(bt, agent)}, headers=bt.headers(host))
    assert reply.status_code == 403
    assert reply.json()["error_code"] == "AGENT_NOT_ALLOWED"


def test_no_token_is_401_and_a_bad_cursor_is_400(bt: BrokerUnderTest) -> None:
    anonymous = bt.client.get("/aws/events", params={"agent_id": bt.agent_id})
    assert anonymous.status_code == 401 and anonymous.json()["error_code"] == "UNAUTHENTICATED"
    bad = bt.client.get("/aws/events", params={"agent_id": bt.agent_id},
                        headers={**bt.headers(), "Last-Event-ID": "not-a-number"})
    assert bad.status_code == 400 and bad.json()["error_code"] == "INVALID_INPUT"


def test_streams_per_host_are_capped_and_a_closed_stream_frees_its_slot(bt: BrokerUnderTest, live: LiveBroker) -> None:
    slots: routes_events.StreamSlots = live.app.state.event_streams
    slots.limit = 1
    with open_stream(bt, live):
        refused = httpx.get(f"{live.url}/aws/events", params={"agent_id": bt.agent_id}, headers=bt.headers(),
                            timeout=READ_TIMEOUT)
        assert refused.status_code == 429
        assert refused.json()["error"].startswith("TOO_MANY_STREAMS: ")
        with open_stream(bt, live, agent_id=bt.foreign_agent_id, host="host-b"):
            pass  # another host's streams are counted apart
    _wait_until(lambda: slots.open_for("host-a") == 0, "the slot was not released after the client left")
    with open_stream(bt, live):
        pass


def test_an_idle_stream_sends_keepalive_comments(bt: BrokerUnderTest, live: LiveBroker,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(routes_events, "KEEPALIVE_SECONDS", 0.0)
    with open_stream(bt, live) as stream:
        frame = stream.next_frame()
    assert frame == {"comment": "keepalive"}


def test_a_stream_ends_after_its_maximum_life_so_the_reconnect_shows_a_fresh_token(
    bt: BrokerUnderTest, live: LiveBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(routes_events, "MAX_STREAM_SECONDS", 0.0)
    with open_stream(bt, live) as stream, pytest.raises(AssertionError, match="the stream ended"):
        stream.next_frame()


def test_a_run_id_narrows_the_stream_to_that_runs_grants(bt: BrokerUnderTest, live: LiveBroker) -> None:
    run, other_run = str(uuid.uuid4()), str(uuid.uuid4())
    with open_stream(bt, live, run_id=run.upper()) as stream:
        # Filed first: had the stream leaked it, it would arrive before our own run's event.
        other = request_grant(bt, **ROUTED, run_id=other_run)["grant_id"]
        own = request_grant(bt, **ROUTED, run_id=run)["grant_id"]
        _, event = stream.next_grant()
    assert (event["grant_id"], event["run_id"]) == (own, run)
    assert other not in "\n".join(stream.raw) and other_run not in "\n".join(stream.raw)


def test_after_zero_with_a_run_id_replays_that_run_from_its_first_event(bt: BrokerUnderTest, live: LiveBroker) -> None:
    run = str(uuid.uuid4())
    own = request_grant(bt, **ROUTED, run_id=run)["grant_id"]
    other = request_grant(bt, **ROUTED)["grant_id"]
    bt.broker.approvals.approve(own, "alice")
    bt.broker.approvals.approve(other, "alice")
    with open_stream(bt, live, run_id=run, after=0) as stream:
        replayed = [stream.next_grant()[1] for _ in range(3)]
    assert [(e["grant_id"], e["status"]) for e in replayed] == [(own, "pending"), (own, "minting"), (own, "active")]


@pytest.mark.parametrize("run_id", ["not-a-run", "", "1" * 36])
def test_a_malformed_run_id_is_400(bt: BrokerUnderTest, live: LiveBroker, run_id: str) -> None:
    # Over the socket: a stream opened by mistake would never end in the buffering test client.
    with httpx.Client(timeout=READ_TIMEOUT) as http, http.stream(
        "GET", f"{live.url}/aws/events", params={"agent_id": bt.agent_id, "run_id": run_id}, headers=bt.headers()
    ) as reply:
        assert reply.status_code == 400
        assert json.loads(reply.read())["error_code"] == "INVALID_INPUT"


def test_a_stream_ends_when_the_callers_token_expires(bt: BrokerUnderTest, live: LiveBroker) -> None:
    # Expired a few seconds ago, yet still inside the verifier's leeway: accepted, then cut at once.
    token = bt.tokens.issue("host-a", now=datetime.now(UTC) - timedelta(seconds=10), ttl=timedelta(seconds=5))
    with open_stream(bt, live, headers={"Authorization": f"Bearer {token}"}) as stream, \
            pytest.raises(AssertionError, match="the stream ended"):
        stream.next_frame()


@pytest.mark.parametrize("ttl", [900, 86_400])
def test_a_streams_life_is_what_is_left_of_the_token(bt: BrokerUnderTest, ttl: int) -> None:
    from cloud_broker.api.auth import caller_host

    token = bt.tokens.issue("host-a", ttl=timedelta(seconds=ttl))
    request = _request({"authorization": f"Bearer {token}"})
    assert asyncio.run(caller_host(request, bt.tokens, bt.broker)) == "host-a"  # records the verified expiry
    life = routes_events.token_life(request, bt.tokens)
    assert ttl - 120 < life <= ttl
    unverified = routes_events.token_life(_request({"authorization": "Bearer not-a-jwt"}), bt.tokens)
    assert unverified == bt.tokens.ttl.total_seconds()


def _request(headers: dict[str, str]) -> Request:
    raw = [(name.encode(), value.encode()) for name, value in headers.items()]
    return Request({"type": "http", "method": "GET", "path": "/aws/events", "headers": raw, "query_string": b""})


def _wait_until(condition: Any, message: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(0.02)
