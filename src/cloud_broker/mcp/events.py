"""Follows the broker's grant event stream (every family's grants) for as long as the server runs.

The agent would otherwise learn of an approval only by polling. This task keeps one SSE stream
open through the same :class:`BrokerApi` (and so the same token source and transport) the
tools use, and hands each grant event to a callback that turns it into MCP notifications.

It must never take the server down: every failure is caught, reported once per kind on
stderr, and followed by a reconnect (1 s, doubling to 30 s, reset once a stream was live)
that resumes from the last event id, so nothing committed in between is lost; the first
connection asks for this run's events from its start (see :meth:`BrokerApi.events`), so a
broker that was unreachable at start-up costs nothing either. A stream silent for longer than
its keepalives allow is given up as dead (:class:`~cloud_broker.client.broker_client.BrokerClient`
enforces it, in-process too). The broker ends live streams on purpose (when the token they were
opened with expires, at most hourly, so that access is checked again): that is no failure and is
not reported. Event bodies are never written to stderr; at most a grant id or event id is.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio
from httpx_sse import EventSource, ServerSentEvent, SSEError

from cloud_broker.client.errors import BrokerCallError
from cloud_broker.mcp.broker_api import BrokerApi

INITIAL_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 30.0

OnEvent = Callable[[Mapping[str, Any]], Awaitable[None]]
Warn = Callable[[str], None]
Sleep = Callable[[float], Awaitable[None]]


class GrantEventStream:
    """Reads grant events and passes each to ``on_event``; reconnects forever.

    ``live`` is set once the broker acknowledged a stream (its ``ready`` frame): from then on
    no grant change is missed, which is what tests wait for before changing a grant.
    """

    def __init__(
        self,
        api: BrokerApi,
        on_event: OnEvent,
        warn: Warn,
        *,
        sleep: Sleep = anyio.sleep,
        initial_backoff: float = INITIAL_BACKOFF_SECONDS,
        max_backoff: float = MAX_BACKOFF_SECONDS,
    ) -> None:
        self._api = api
        self._on_event = on_event
        self._warn = warn
        self._sleep = sleep
        self._initial_backoff = initial_backoff
        self._max_backoff = max_backoff
        self._last_event_id: str | None = None
        self._reported: set[str] = set()
        self._was_live = False
        self.live = anyio.Event()

    @property
    def last_event_id(self) -> str | None:
        """Where a reconnect resumes (``Last-Event-ID``)."""
        return self._last_event_id

    async def run(self) -> None:
        """Follow the stream until cancelled."""
        backoff = self._initial_backoff
        while True:
            self._was_live = False
            ending = await self._follow_once()
            if ending is not None:
                self._report(*ending)
            if self._was_live:
                backoff = self._initial_backoff
            await self._sleep(backoff)
            backoff = min(backoff * 2, self._max_backoff)

    async def _follow_once(self) -> tuple[str, str] | None:
        """One connection, open to end: the kind of failure and a safe detail, or None if none."""
        try:
            async with self._api.events(self._last_event_id) as response:
                async for sse in EventSource(response).aiter_sse():
                    await self._handle(sse)
        except BrokerCallError as exc:
            return (f"refused_{exc.status}" if exc.status else "unreachable"), str(exc)
        except SSEError:
            return "not_an_event_stream", "the broker did not answer with text/event-stream"
        except Exception as exc:  # noqa: BLE001 - the stream must never take the server down
            return f"unexpected_{type(exc).__name__}", "reconnecting"
        if self._was_live:
            return None
        return "ended", "the broker closed the event stream before it was live; reconnecting"

    async def _handle(self, sse: ServerSentEvent) -> None:
        if sse.event == "ready":
            self._was_live = True
            self.live.set()
        elif sse.event == "grant":
            await self._deliver(sse)
        if sse.id:
            self._last_event_id = sse.id

    async def _deliver(self, sse: ServerSentEvent) -> None:
        try:
            event = json.loads(sse.data)
        except ValueError:
            event = None
        if not isinstance(event, dict) or not isinstance(event.get("grant_id"), str):
            self._report("bad_event", f"event {sse.id or '?'} is not a grant object; skipped")
            return
        try:
            await self._on_event(event)
        except Exception as exc:  # noqa: BLE001 - a failed notification must not stop the stream
            self._report(f"notify_failed_{type(exc).__name__}", f"grant {event['grant_id']}")

    def _report(self, kind: str, detail: str) -> None:
        """One stderr line per kind of failure: a broker that is down for an hour gets one line."""
        if kind in self._reported:
            return
        self._reported.add(kind)
        self._warn(f"grant_events_{kind}: {detail}")
