"""A small real HTTP broker for MCP tests: records every request, answers from a reply table.

It runs uvicorn on 127.0.0.1 (free port) in a thread, so the MCP server under test talks to it
over real sockets, both in-process and from a subprocess.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

TOKEN_PREFIX = "jwt-from-exchange-"


@dataclass(frozen=True)
class Recorded:
    """One request as it arrived on the wire."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Reply:
    """What to answer: a JSON value, or raw text; optionally after a delay."""

    status: int = 200
    json: Any = None
    text: str | None = None
    delay: float = 0.0

    def response(self) -> Response:
        if self.text is not None:
            return Response(self.text, status_code=self.status, media_type="text/plain")
        if self.status == 204:
            return Response(status_code=204)
        return Response(json.dumps(self.json), status_code=self.status, media_type="application/json")


@dataclass
class StubBroker:
    """Replies keyed by ``(method, path)``; unknown routes echo ``{"ok": true, "path": …}``."""

    replies: dict[tuple[str, str], Reply | list[Reply]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    expires_in: float | None = 3600
    base_url: str = ""
    _exchanges: int = 0

    def reset(self) -> None:
        self.replies.clear()
        self.requests.clear()
        self.expires_in = 3600
        self._exchanges = 0

    def reply(self, method: str, path: str, *replies: Reply) -> None:
        """Answer with these replies in turn; the last one repeats."""
        self.replies[(method, path)] = list(replies)

    def calls(self, path: str | None = None) -> list[Recorded]:
        return [r for r in self.requests if path is None or r.path == path]

    def api_calls(self) -> list[Recorded]:
        return [r for r in self.requests if r.path != "/host/exchange"]

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        path = request.url.path
        self.requests.append(
            Recorded(request.method, path, request.url.query, {k.lower(): v for k, v in request.headers.items()}, body)
        )
        reply = self._next_reply(request.method, path)
        if reply.delay:
            await asyncio.sleep(reply.delay)
        return reply.response()

    def _next_reply(self, method: str, path: str) -> Reply:
        queued = self.replies.get((method, path))
        if isinstance(queued, list) and queued:
            return queued.pop(0) if len(queued) > 1 else queued[0]
        if path == "/host/exchange":
            self._exchanges += 1
            payload: dict[str, Any] = {"token": f"{TOKEN_PREFIX}{self._exchanges}"}
            if self.expires_in is not None:
                payload["expires_in"] = self.expires_in
            return Reply(json=payload)
        if path.endswith("/inventory"):
            return Reply(json={"accounts": []} if path.startswith("/aws/") else {"projects": []})
        return Reply(json={"ok": True, "path": path})


def asgi_app(broker: StubBroker) -> Starlette:
    """The stub as an ASGI app: served by uvicorn, or plugged into httpx.ASGITransport."""
    return Starlette(routes=[Route("/{path:path}", broker.handle, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])])


class StubServer:
    """Runs a :class:`StubBroker` under uvicorn in a background thread."""

    def __init__(self, broker: StubBroker) -> None:
        config = uvicorn.Config(
            asgi_app(broker), log_level="critical", access_log=False, lifespan="off", timeout_graceful_shutdown=1
        )
        self._server = uvicorn.Server(config)
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        broker.base_url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True)

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("stub broker did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()


def free_port() -> int:
    """A port nothing listens on (bound then released), for connection-refused tests."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
