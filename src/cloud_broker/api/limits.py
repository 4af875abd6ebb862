"""A cap on request bodies, enforced before anything parses them.

The largest valid request (100 actions, 100 ARNs of 2,048 characters, a reason) is well
under the cap; anything bigger is refused with 413 instead of being read into memory.
"""

from __future__ import annotations

import json
from typing import Any

from cloud_broker.api.errors import envelope

MAX_BODY_BYTES = 512 * 1024

Scope = dict[str, Any]
Receive = Any
Send = Any


class BodyLimit:
    """Pure ASGI middleware: checks ``Content-Length`` up front and counts chunked bodies."""

    def __init__(self, app: Any, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await _refuse(send, self.limit)
            return
        await self._counted(scope, receive, send)

    async def _counted(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A body without a trustworthy length is counted as it arrives. Past the cap the app
        is told the client went away, and whatever it answers is replaced by the 413."""
        received, exceeded = 0, False

        async def counting_receive() -> Any:
            nonlocal received, exceeded
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                exceeded = True
                return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Any) -> None:
            if not exceeded:
                await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not exceeded:
                raise
        if exceeded:
            await _refuse(send, self.limit)


async def _refuse(send: Send, limit: int) -> None:
    body = json.dumps(envelope(f"PAYLOAD_TOO_LARGE: request bodies are limited to {limit} bytes",
                               "PAYLOAD_TOO_LARGE")).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
