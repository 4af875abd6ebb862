"""One runtime's MCP session over streamable HTTP, and the bearer it presents.

Each session owns what ``cloud-broker mcp`` owns for one process: its own server (built by
:func:`~cloud_broker.mcp.server.open_app`, so tools, resources and notifications are those of
stdio), broker client and grant event stream, all bound to one host and one agent. The SDK's
:class:`~mcp.server.streamable_http_manager.StreamableHTTPSessionManager` speaks the transport;
this object counts the requests it has in flight so that an idle session can be closed.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import anyio

ASGIApp = Callable[[MutableMapping[str, Any], Any, Any], Awaitable[None]]
SESSION_HEADER = b"mcp-session-id"


@dataclass(frozen=True)
class Owner:
    """Who a session belongs to: every later request must come from the same host for the same agent."""

    host: str
    agent_id: str


class PresentedToken:
    """The broker client's token source for one session: the host token last presented on it.

    The runtime proves itself on every request (the guard verifies each); the session's calls
    to the broker ride on the newest of those tokens, so a runtime that renews its token renews
    the session's too, and a revoked host cannot keep a session working on an old one.
    """

    def __init__(self, token: str) -> None:
        self._token = token

    def present(self, token: str) -> None:
        self._token = token

    async def token(self) -> str:
        return self._token


@dataclass(frozen=True)
class Answer:
    """What the SDK answered a request with (its status; the session id it named, if any)."""

    status: int | None
    session_id: str | None


@dataclass(eq=False)
class HttpSession:
    """Forwards requests to the session's transport; ends on close or after ``idle`` seconds
    without a request in flight (an open GET stream counts as one)."""

    owner: Owner
    handle: ASGIApp
    token: PresentedToken
    session_id: str | None = None
    _in_flight: int = 0
    # When the last request in flight ended (monotonic seconds): the longest idle goes first.
    idle_since: float = field(default_factory=time.monotonic)
    _touched: anyio.Event = field(default_factory=anyio.Event)
    _closed: anyio.Event = field(default_factory=anyio.Event)

    async def serve(self, scope: MutableMapping[str, Any], receive: Any, send: Any,
                    on_answer: Callable[[Answer], None] | None = None) -> Answer:
        """Answer one request through the SDK; a DELETE it accepted, or a 404 (the SDK no longer
        knows the session, say after a crash), closes this session. ``on_answer`` hears the status
        as soon as it is sent: a streamed body may go on after the client has what it needs."""
        self._touch(+1)
        try:
            answer = await _answered(self.handle, scope, receive, send, on_answer)
        finally:
            self._touch(-1)
        accepted_delete = scope.get("method") == "DELETE" and answer.status is not None and answer.status < 300
        if accepted_delete or answer.status == 404:
            self.close()
        return answer

    def close(self) -> None:
        self._closed.set()

    async def run_until_over(self, idle: float) -> None:
        """Return once closed, or once ``idle`` seconds passed with nothing in flight."""
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(self._watch_idle, idle)
            await self._closed.wait()
            tasks.cancel_scope.cancel()

    async def _watch_idle(self, idle: float) -> None:
        while True:
            touched = self._touched = anyio.Event()
            if self._in_flight:
                await touched.wait()
                continue
            with anyio.move_on_after(idle):
                await touched.wait()
            if not touched.is_set() and not self._in_flight:
                self.close()
                return

    @property
    def idle(self) -> bool:
        """Nothing in flight (an open GET stream is in flight)."""
        return self._in_flight == 0

    def _touch(self, delta: int) -> None:
        self._in_flight += delta
        if not self._in_flight:
            self.idle_since = time.monotonic()
        self._touched.set()


async def _answered(app: ASGIApp, scope: MutableMapping[str, Any], receive: Any, send: Any,
                    on_answer: Callable[[Answer], None] | None) -> Answer:
    status: int | None = None
    session_id: str | None = None

    async def watching(message: MutableMapping[str, Any]) -> None:
        nonlocal status, session_id
        if message["type"] == "http.response.start":
            status = message["status"]
            session_id = next((v.decode("latin-1") for k, v in message.get("headers", [])
                               if k.lower() == SESSION_HEADER), None)
            if on_answer is not None:
                on_answer(Answer(status, session_id))
        await send(message)

    await app(scope, receive, watching)
    return Answer(status, session_id)
