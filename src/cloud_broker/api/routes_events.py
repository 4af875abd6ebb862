"""``GET /events``: grant outcomes pushed to the agent as Server-Sent Events, of every family.

(``GET /aws/events`` answers the same, for clients written when AWS was the only family.)

Without a push the agent has to poll each pending grant; a human approval can take minutes, so
the stream lets it wait instead. The events come from :class:`GrantFeed` (the audit trail is the
outbox), so whichever process made a change, the stream reports it once it has committed.

Wire form (one frame per grant event, ``id`` is the audit sequence number)::

    id: 42
    event: grant
    data: {"event_id": 42, "grant_id": "…", "status": "active", …}

The first frame is ``event: ready`` carrying the starting position as its ``id``: a client that
reconnects with that id misses nothing, even if no grant event arrived in between. Idle streams
get a ``: keepalive`` comment every 15 s so proxies and clients can tell quiet from dead.

``run_id`` narrows the stream to the grants of one run: an MCP server serves one run, and the
agent's other runs are none of its business (nor its model's). With ``after=0`` it reads that
run from its first event, which is how a subscriber that could not connect at once still hears
what happened before it did.

A stream ends when the caller's token expires, and after an hour at most: the reconnect must
show a valid token and passes the access check again, so a host whose token ran out or whose
agent was taken away stops hearing by then, whatever ``broker.jwt_ttl_seconds`` is.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Annotated, Any

import anyio
import anyio.to_thread
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import Field, StringConstraints
from starlette.types import Receive, Scope, Send

from cloud_broker.api.auth import caller_host
from cloud_broker.api.errors import error_response
from cloud_broker.api.schemas import absent_when_none
from cloud_broker.api.state import broker_of, tokens_of
from cloud_broker.api.tokens import TokenIssuer
from cloud_broker.domain.ids import canonical_uuid
from cloud_broker.errors import InvalidInput, Unavailable
from cloud_broker.service.broker import Broker
from cloud_broker.service.feed import GrantEvent, GrantFeed
from cloud_broker.service.feed_head import FeedHead
from cloud_broker.wire_types import Uuid

router = APIRouter(tags=["events"])

KEEPALIVE_SECONDS = 15.0
MAX_STREAMS_PER_HOST = 20
MAX_STREAM_SECONDS = 3600.0
"""Even under a day-long token a stream ends within the hour, so access is checked again."""
KEEPALIVE = b": keepalive\n\n"
EventId = Annotated[str, StringConstraints(pattern=r"^[ \t]*[0-9]{0,20}[ \t]*$")]
"""What ``Last-Event-ID`` may hold: an id this stream sent (a 64-bit row number), or nothing.
Declared on the parameter, so the OpenAPI document says so, and bounded, so no digit string
reaches ``int()`` long enough to exceed Python's conversion limit (that was a 500)."""
Cursor = Annotated[int, Field(ge=0)]

Host = Annotated[str, Depends(caller_host)]
B = Annotated[Broker, Depends(broker_of)]
Tokens = Annotated[TokenIssuer, Depends(tokens_of)]


class StreamSlots:
    """Open streams per host. Each stream reads the store when the trail grows and holds a
    connection's worth of server state, so one host must not take them all."""

    def __init__(self, limit: int = MAX_STREAMS_PER_HOST) -> None:
        self.limit = limit
        self._open: Counter[str] = Counter()

    def acquire(self, host: str) -> bool:
        """Take a slot for ``host``; False when it already holds ``limit`` streams."""
        if self._open[host] >= self.limit:
            return False
        self._open[host] += 1
        return True

    def release(self, host: str) -> None:
        self._open[host] -= 1
        if self._open[host] <= 0:
            del self._open[host]

    def open_for(self, host: str) -> int:
        return self._open[host]

    def total(self) -> int:
        """Open streams of every host (the metrics' gauge)."""
        return sum(self._open.values())


class EventStreamResponse(StreamingResponse):
    """A streaming response that gives its slot back however the stream ends.

    The slot is released here rather than in the generator: a generator cancelled while parked
    at ``yield`` is only finalised when it is garbage-collected, which may be much later.
    """

    media_type = "text/event-stream"

    def __init__(self, frames: AsyncIterator[bytes], release: Callable[[], None]) -> None:
        super().__init__(frames, headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()
            closer = getattr(self.body_iterator, "aclose", None)
            if closer is not None:
                with anyio.CancelScope(shield=True):
                    await closer()


EVENT_SCHEMA = {
    "type": "object",
    "required": ["id", "event", "data"],
    "properties": {
        "id": {"type": "string", "pattern": "^[0-9]+$", "description": "Resend as Last-Event-ID to resume"},
        "event": {"enum": ["ready", "grant"]},
        "data": {"type": "string", "contentMediaType": "application/json", "contentSchema": {"type": "object"}},
    },
}
"""One frame of the stream, as Open API 3.2 (and FastAPI's own SSE routes) document it: ``itemSchema``."""


# ``response_class=Response`` has no media type, so FastAPI adds no JSON (or whole-stream string)
# schema of its own to the 200 beside the one declared here.
_STREAM: dict[int | str, dict[str, Any]] = {200: {"description": "Grant events, one frame each, after a first `ready` frame",
                 "content": {"text/event-stream": {"itemSchema": EVENT_SCHEMA}}}}


@router.get("/events", response_model=None, response_class=Response, responses=_STREAM)
@router.get("/aws/events", response_model=None, response_class=Response, responses=_STREAM)
async def grant_events(
    request: Request,
    host: Host,
    broker: B,
    tokens: Tokens,
    agent_id: Annotated[Uuid, Query(description="The agent whose grants to follow")],
    run_id: Annotated[Uuid | None, Query(description="Only the grants of this run of the agent"),
                      absent_when_none(Uuid)] = None,
    after: Annotated[Cursor | None, Query(description="Resume after this event id"), absent_when_none(Cursor)] = None,
    last_event_id: Annotated[EventId | None, Header(description="Set by SSE clients on reconnect"),
                             absent_when_none(EventId)] = None,
) -> Response:
    agent = broker.access.agent(host, agent_id)
    feed = GrantFeed(broker.deps)
    requested = _requested_cursor(last_event_id, after)
    head = await anyio.to_thread.run_sync(feed.head)
    # A cursor beyond the newest row (a stale id from another database) would hide new events.
    cursor = head if requested is None else min(requested, head)
    life = min(MAX_STREAM_SECONDS, token_life(request, tokens))
    slots = stream_slots(request)
    if not slots.acquire(host):
        return error_response(429, "TOO_MANY_STREAMS",
                              f"host '{host}' already has {slots.limit} event streams open; close one first")
    run = canonical_uuid(run_id) if run_id is not None else None
    frames = _frames(feed, request.app.state.feed_head, agent.id, run, cursor, life)
    return EventStreamResponse(frames, partial(slots.release, host))


def token_life(request: Request, tokens: TokenIssuer) -> float:
    """Seconds until the caller's bearer token expires (0 when it is within the verify leeway),
    as ``caller_host`` read it while verifying; the issuer's ttl bounds it otherwise."""
    expires = getattr(request.state, "token_expires", None)
    if not isinstance(expires, float):
        return tokens.ttl.total_seconds()
    return max(0.0, expires - time.time())


def stream_slots(request: Request) -> StreamSlots:
    """The app's slot table, created with the app so each app (and test) counts its own."""
    return request.app.state.event_streams  # type: ignore[no-any-return]


def _requested_cursor(last_event_id: str | None, after: int | None) -> int | None:
    """``Last-Event-ID`` wins: an SSE client resends its original URL, ``?after`` included."""
    if last_event_id is None or not last_event_id.strip():
        return after
    value = last_event_id.strip()
    if not (value.isascii() and value.isdigit()):
        raise InvalidInput("Last-Event-ID must be a non-negative integer event id")
    return int(value)


async def _frames(feed: GrantFeed, head: FeedHead, agent_id: str, run_id: str | None, cursor: int,
                  life: float) -> AsyncIterator[bytes]:
    """Reads this agent's (or run's) rows only when the process's feed head says some may have
    arrived (``service.feed_head``), so an idle stream costs no query at all."""
    yield _sse(cursor, "ready", {"after": cursor})
    last_write = anyio.current_time()
    ends_at = last_write + life
    seen = head.version(agent_id, run_id)
    while anyio.current_time() < ends_at:
        read = partial(feed.after, cursor, agent_id=agent_id, run_id=run_id)
        try:
            events, moved_to = await anyio.to_thread.run_sync(read)
        except Unavailable:  # the store is down for now: keep the stream, read again later
            events, moved_to = [], cursor
        for event in events:
            yield grant_frame(event)
        if events:
            last_write = anyio.current_time()
        elif anyio.current_time() - last_write >= KEEPALIVE_SECONDS:
            yield KEEPALIVE
            last_write = anyio.current_time()
        if moved_to == cursor:  # nothing new; otherwise read on at once, there may be more
            wait = min(KEEPALIVE_SECONDS - (anyio.current_time() - last_write), ends_at - anyio.current_time())
            seen = await head.wait(agent_id, run_id, seen, max(0.0, wait))
        cursor = moved_to


def grant_frame(event: GrantEvent) -> bytes:
    return _sse(event.seq, "grant", event.to_json())


def _sse(event_id: int, kind: str, payload: object) -> bytes:
    # json.dumps escapes newlines, so the data always fits on the one `data:` line.
    data = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    return f"id: {event_id}\nevent: {kind}\ndata: {data}\n\n".encode()
