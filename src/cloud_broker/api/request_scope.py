"""What every HTTP request gets, whatever it asks and however it ends: an id, an access line,
and a complete answer.

The id is the caller's ``X-Request-Id`` when it is well formed (bounded length, a charset
that cannot smuggle anything into a log line or a header), else a fresh one. It is returned
as ``X-Request-Id``, put into every error envelope (``api.errors``) and into every audit row
written meanwhile (``service.request_context``), so one id links what the client saw, the
log and the trail.

An exception nothing else handled becomes the 500 envelope here and is logged by type and
request id only: its text and traceback could carry anything, a secret included. It is not
raised further: the server would then close a keep-alive connection whose answer was
already sent (and log the traceback).

The access line names the route template (``/aws/grants/{grant_id}``), never the raw path or
query, and no header or body: paths carry grant ids, queries agent ids, headers tokens.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cloud_broker.api.errors import error_response
from cloud_broker.service.request_context import bound_request_id

HEADER = "x-request-id"
WELL_FORMED = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
"""An inbound id the broker adopts: what a UUID, a ULID or a proxy's trace id looks like."""
UNMATCHED = "<unmatched>"
"""The route of a request no route took (a 404, a 405 of no path): never the raw path."""

access_log = logging.getLogger("cloud_broker.access")
log = logging.getLogger("cloud_broker.api")


def request_id_for(scope: Scope) -> str:
    """The caller's well-formed ``X-Request-Id``, else a new one."""
    for name, value in scope.get("headers") or ():
        if name == HEADER.encode():
            inbound = value.decode("latin-1")
            return inbound if WELL_FORMED.match(inbound) else new_request_id()
    return new_request_id()


def new_request_id() -> str:
    return uuid.uuid4().hex


def route_template(scope: Scope) -> str:
    """The matched route's template under its mount (``/console/grants/{grant_id}``)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return UNMATCHED
    root = str(scope.get("root_path") or "")
    # A mount with no routes of its own (static files) adds its path to the root itself.
    return f"{root}/{{path}}" if isinstance(route, Mount) else root + path


class RequestScope:
    """Pure ASGI middleware, installed outermost (inside the server's own error middleware)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_for(scope)
        started = time.perf_counter()
        status: list[int] = []

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))
                headers = [*message.get("headers", ()), (HEADER.encode(), request_id.encode())]
                message = {**message, "headers": headers}
            await send(message)

        with bound_request_id(request_id):
            try:
                await self.app(scope, receive, send_with_id)
            except Exception as exc:  # noqa: BLE001 - the last boundary: every failure gets an answer
                log.error("unhandled %s in request %s", type(exc).__name__, request_id)
                if not status:  # once an answer has started, nothing can replace it
                    await error_response(500, "INTERNAL", "internal broker error")(scope, receive, send_with_id)
            finally:
                _log_access(scope, status[0] if status else 500, started, request_id)


def _log_access(scope: Scope, status: int, started: float, request_id: str) -> None:
    fields: dict[str, Any] = {
        "method": str(scope.get("method", "")),
        "route": route_template(scope),
        "status": status,
        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
        "request_id": request_id,
        "client": (scope.get("client") or ("", 0))[0],
    }
    access_log.info("%(method)s %(route)s %(status)s %(duration_ms)sms request_id=%(request_id)s client=%(client)s",
                    fields, extra={"access": fields})
