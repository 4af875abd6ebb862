"""``/mcp`` on ``cloud-broker serve``: MCP's streamable HTTP transport, one session per runtime.

A runtime connects to the broker directly instead of spawning ``cloud-broker mcp`` per agent
session. Every session is built by :func:`~cloud_broker.mcp.server.open_app`, exactly as the
stdio server is (the same tools, resources and notifications), and bound to the host and agent
that opened it; its broker calls go in-process into the broker app (the streaming ASGI transport
of the embedded mode) with the host token the runtime presented.

Authentication is not done here: the app mounting this endpoint puts a guard in front (see
``cloud_broker.api.host_guard``) that verifies every request and leaves the caller in the scope's
``state``. What this endpoint bounds is cost: sessions per agent, per host and in total, an idle timeout,
and the request body size (also passed to the SDK). Refusals are raised as
:class:`~cloud_broker.errors.BrokerError`, which the guard turns into the API's error envelope.

Handshake-era sessions (``initialize``, protocol versions up to 2025-11-25) are served; a
request announcing a later protocol version is refused (400) rather than served sessionless.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
from anyio.abc import TaskGroup, TaskStatus
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from starlette.datastructures import Headers

from cloud_broker.errors import InvalidInput, NotFound, TooManyRequests, Unauthenticated, Unavailable
from cloud_broker.mcp.asgi_stream import StreamingASGITransport, streaming_asgi_transport
from cloud_broker.mcp.family import FamilyTools
from cloud_broker.mcp.http_session import Answer, HttpSession, Owner, PresentedToken
from cloud_broker.mcp.server import open_app
from cloud_broker.mcp.settings import McpSettings

log = logging.getLogger("cloud_broker.mcp")

INPROCESS_URL = "http://cloud-broker.in-process"
SESSION_HEADER = "mcp-session-id"
VERSION_HEADER = "mcp-protocol-version"

Scope = MutableMapping[str, Any]


@dataclass(frozen=True)
class SessionLimits:
    """What HTTP sessions may cost the broker. Each holds a server, a broker client and a grant
    event stream, so the caps are far below the SDK's default of 10,000; ``per_host`` stays
    below the API's event streams per host (20), so every session gets its stream and the host
    still has some left for stdio servers. ``per_agent`` keeps one agent (the party this product
    contains) from taking every session its host may hold away from the host's other agents.
    The agent is the one ``X-Agent-Id`` names: whoever holds the host token may name any of the
    host's agents, so this bounds an agent only where the runtime, not the agent, holds it. At
    its cap, an agent's new session replaces its own longest-idle one."""

    per_agent: int = 4
    per_host: int = 16
    total: int = 64
    idle_seconds: float = 600.0
    body_bytes: int = 512 * 1024


@dataclass(frozen=True)
class Caller:
    """The authenticated caller the guard left in the scope, and the token it presented."""

    owner: Owner
    run_id: str
    bearer: str = field(repr=False)

    @classmethod
    def of(cls, scope: Scope) -> Caller:
        """Fail closed: a scope that did not pass the guard has no caller."""
        state = scope.get("state") or {}
        host, agent_id = state.get("host"), state.get("agent_id")
        bearer = Headers(scope=scope).get("authorization", "").partition(" ")[2].strip()
        if not host or not agent_id or not bearer:
            raise Unauthenticated("a Bearer host token is required")
        return cls(Owner(host, agent_id), state.get("run_id") or str(uuid.uuid4()), bearer)


class McpHttpEndpoint:
    """The ASGI app behind ``/mcp``; :meth:`run` must be open while it serves (the app's lifespan)."""

    def __init__(
        self,
        broker_app: Any,
        limits: SessionLimits | None = None,
        *,
        families: Mapping[str, FamilyTools] | None = None,
    ) -> None:
        """``broker_app`` is the broker's ASGI app, which the sessions' broker clients call in-process."""
        self._broker_app = broker_app
        self.limits = limits or SessionLimits()
        self._families = families
        self._sessions: dict[str, HttpSession] = {}
        self._held: Counter[str] = Counter()
        self._held_by: Counter[Owner] = Counter()
        self._admissions: dict[HttpSession, _Admission] = {}
        self._tasks: TaskGroup | None = None
        self._transport: StreamingASGITransport | None = None

    @asynccontextmanager
    async def run(self) -> AsyncIterator[None]:
        """Serve while open; on exit every session is closed and its tasks cancelled."""
        async with streaming_asgi_transport(self._broker_app) as transport, anyio.create_task_group() as tasks:
            self._transport, self._tasks = transport, tasks
            try:
                yield
            finally:
                self._tasks = None
                tasks.cancel_scope.cancel()

    def open_sessions(self, host: str | None = None) -> int:
        """Sessions held (opening or open), of ``host`` or in total."""
        return self._held[host] if host is not None else sum(self._held.values())

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        caller = Caller.of(scope)
        headers = Headers(scope=scope)
        version = headers.get(VERSION_HEADER)
        if version is not None and version not in HANDSHAKE_PROTOCOL_VERSIONS:
            raise InvalidInput(f"this endpoint serves MCP sessions opened by initialize (protocol versions "
                               f"{', '.join(HANDSHAKE_PROTOCOL_VERSIONS)})")
        session_id = headers.get(SESSION_HEADER)
        if session_id is not None:
            await self._existing(session_id, caller).serve(scope, receive, send)
            return
        if scope.get("method") != "POST":
            raise InvalidInput(f"the {SESSION_HEADER} header is required: open a session with a POST of initialize")
        await self._open(caller, scope, receive, send)

    def _existing(self, session_id: str, caller: Caller) -> HttpSession:
        session = self._sessions.get(session_id)
        if session is None or session.owner != caller.owner:
            # Someone else's session reads as no session at all.
            raise NotFound("unknown or expired MCP session: open a new one with initialize", code="SESSION_NOT_FOUND")
        session.token.present(caller.bearer)
        return session

    async def _open(self, caller: Caller, scope: Scope, receive: Any, send: Any) -> None:
        if self._tasks is None:
            raise Unavailable("the MCP endpoint is not running", code="MCP_UNAVAILABLE")
        admitted = self._admit(caller.owner)
        try:
            session: HttpSession = await self._tasks.start(self._hold, caller, admitted)
        except BaseException:
            admitted.release()  # a no-op if the session's own task already released it
            raise

        def register(answer: Answer) -> None:
            # At the response's start: the client may use the session before this request ends.
            if answer.session_id is not None and answer.status is not None and answer.status < 400:
                session.session_id = answer.session_id
                self._sessions[answer.session_id] = session

        try:
            await session.serve(scope, receive, send, on_answer=register)
        finally:
            if session.session_id is None:
                session.close()  # nothing was established: a failed or abandoned initialize, or none

    def _admit(self, owner: Owner) -> _Admission:
        """Count the session before any await, so concurrent openings cannot pass the caps together;
        the admission is released once, whichever of the opening request and the session ends it."""
        host = owner.host
        if self._held_by[owner] >= self.limits.per_agent and not self._close_longest_idle(owner):
            raise TooManyRequests(f"agent {owner.agent_id} holds {self.limits.per_agent} MCP sessions on host "
                                  f"'{host}', its limit, each with a request in flight: close one (DELETE /mcp)",
                                  code="TOO_MANY_SESSIONS")
        if self._held[host] >= self.limits.per_host:
            raise TooManyRequests(f"host '{host}' holds {self.limits.per_host} MCP sessions, its limit: close one "
                                  "(DELETE /mcp) or let an idle one expire", code="TOO_MANY_SESSIONS")
        if self.open_sessions() >= self.limits.total:
            raise TooManyRequests(f"the broker holds {self.limits.total} MCP sessions, its limit: retry later",
                                  code="TOO_MANY_SESSIONS")
        self._held[host] += 1
        self._held_by[owner] += 1
        return _Admission(owner, self._release)

    def _close_longest_idle(self, owner: Owner) -> bool:
        """At its own cap, an agent's new session replaces its longest-idle one (a runtime that
        restarted without DELETE would otherwise wait out the idle timeout); never another
        agent's, and never one with a request in flight. The place is freed at once."""
        idle = [s for s in self._admissions if s.owner == owner and s.session_id is not None and s.idle]
        if not idle:
            return False
        oldest = min(idle, key=lambda session: session.idle_since)
        self._unlist(oldest)
        oldest.close()
        self._admissions.pop(oldest).release()  # out of the candidates while it winds down
        log.info("closed an idle MCP session of agent %s on host %r for a new one", owner.agent_id, owner.host)
        return True

    def _release(self, owner: Owner) -> None:
        for counter, key in ((self._held, owner.host), (self._held_by, owner)):
            counter[key] -= 1
            if counter[key] <= 0:
                del counter[key]

    async def _hold(self, caller: Caller, admitted: _Admission, *, task_status: TaskStatus[HttpSession]) -> None:
        """The life of one session: its MCP app and SDK transport, until closed or idle."""
        assert self._transport is not None
        token = PresentedToken(caller.bearer)
        settings = McpSettings(host=INPROCESS_URL, agent_id=caller.owner.agent_id, run_id=caller.run_id)
        session: HttpSession | None = None
        try:
            async with open_app(settings, transport=self._transport, token_source=token, warn=log.warning,
                                grant_events=True, families=self._families) as app:
                manager = StreamableHTTPSessionManager(app.server, session_idle_timeout=None, max_sessions=1,
                                                       max_request_body_size=self.limits.body_bytes)
                async with manager.run():
                    session = HttpSession(caller.owner, manager.handle_request, token)
                    self._admissions[session] = admitted
                    task_status.started(session)
                    await session.run_until_over(self.limits.idle_seconds)
                    self._unlist(session)  # its id answers 404 from now on, while the session winds down
        except Exception as exc:
            if session is None:
                raise  # the opening request hears of it
            # Type only: a message could carry anything. One session failing must not end the others.
            log.error("MCP session ended by %s", type(exc).__name__)
        finally:
            if session is not None:
                self._unlist(session)
                self._admissions.pop(session, None)
                admitted.release()

    def _unlist(self, session: HttpSession) -> None:
        if session.session_id is not None and self._sessions.get(session.session_id) is session:
            del self._sessions[session.session_id]


class _Admission:
    """One counted session; released at most once (a cancelled opening request and the
    session's own task may both try, and a second release would let the caps be passed)."""

    def __init__(self, owner: Owner, release: Callable[[Owner], None]) -> None:
        self._owner = owner
        self._release: Callable[[Owner], None] | None = release

    def release(self) -> None:
        release, self._release = self._release, None
        if release is not None:
            release(self._owner)
