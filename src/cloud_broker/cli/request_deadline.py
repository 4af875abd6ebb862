"""A deadline for reading each HTTP request, headers and body, on ``cloud-broker serve``.

uvicorn has no header-read or body-read timeout: its only timer is the keep-alive one, armed
after a response. A client that opens a connection and sends nothing, or trickles a header
line or a body a byte at a time, holds a connection (and, for a body, a request task) for as
long as it likes; a few hundred of them exhaust the process's descriptors. The protocol here
is uvicorn's own, plus one timer: from the connection's first moment, and from the first byte
of each later request, the request must be read completely within ``read_timeout`` seconds or
the server answers 408 and closes the connection. Other connections are unaffected.

A total, not an idle, timeout: a client sending one byte a second is as slow as one sending
nothing. Responses are not bounded (the event stream stays open for as long as it is read).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger(__name__)

REQUEST_READ_TIMEOUT_SECONDS = 10.0
_TIMEOUT_RESPONSE = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


class _ReadDeadline:
    """Mixed in before one of uvicorn's HTTP protocol classes (httptools or h11)."""

    read_timeout: float = REQUEST_READ_TIMEOUT_SECONDS
    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    cycle: Any
    client: tuple[str, int] | None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._deadline: asyncio.TimerHandle | None = None
        self._in_message = False
        super().connection_made(transport)  # type: ignore[misc]
        self._arm()  # a connection that never sends a byte is as slow as one that trickles

    def data_received(self, data: bytes) -> None:
        super().data_received(data)  # type: ignore[misc]
        if self._reading():
            self._arm()
        else:
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)  # type: ignore[misc]

    # httptools' parser callbacks: they bracket one request (h11 has its own state, below).
    def on_message_begin(self) -> None:
        self._in_message = True
        super().on_message_begin()  # type: ignore[misc]

    def on_message_complete(self) -> None:
        self._in_message = False
        super().on_message_complete()  # type: ignore[misc]

    def _reading(self) -> bool:
        """Part of a request has arrived and the rest has not."""
        conn = getattr(self, "conn", None)
        if conn is None:
            return self._in_message
        import h11

        return conn.their_state is h11.SEND_BODY or (conn.their_state is h11.IDLE and bool(conn.trailing_data[0]))

    def _arm(self) -> None:
        if self._deadline is None:  # already armed: the first byte's deadline stands
            self._deadline = self.loop.call_later(self.read_timeout, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if self.transport.is_closing() or self.transport.get_protocol() is not self:
            return  # closed already, or handed over to another protocol (an upgrade)
        log.warning("closed a connection from %s: no complete request within %g s",
                    self.client[0] if self.client else "?", self.read_timeout)
        cycle = self.cycle
        if cycle is None or cycle.response_complete or not cycle.response_started:
            self.transport.write(_TIMEOUT_RESPONSE)
        self.transport.close()


def request_deadline_protocol(read_timeout: float = REQUEST_READ_TIMEOUT_SECONDS,
                              base: type[asyncio.Protocol] | None = None) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol (``base``, default: the one uvicorn picks itself) with the deadline."""
    if base is None:
        from uvicorn.config import HTTP_PROTOCOLS
        from uvicorn.importer import import_from_string

        base = import_from_string(HTTP_PROTOCOLS["auto"])
    return type(f"Deadline{base.__name__}", (_ReadDeadline, base), {"read_timeout": read_timeout})


def guard_request_reads(config: Any, read_timeout: float = REQUEST_READ_TIMEOUT_SECONDS) -> None:
    """Make a not-yet-started ``uvicorn.Config`` serve with the deadline protocol."""
    config.http = request_deadline_protocol(read_timeout)
