"""What every HTTP request gets, whatever it asks and however it ends: an id, an access line,
and a complete answer.

The id is the broker's own, fresh for every request: it is returned as ``X-Request-Id``, put
into every error envelope (``api.errors``) and into every audit row written meanwhile
(``service.request_context``), so one id links what the client saw, the log and the trail. A
caller's id is never adopted: the caller is an agent, and the trail must not carry a text it
chose (``approved-by-alice``) nor another request's id. A well-formed inbound ``X-Request-Id``
(bounded length, a charset that cannot smuggle anything into a log line) is kept beside it, in
the access line only, as ``client_request_id``, so a proxy's trace still finds the request.

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
"""An inbound id the access line keeps: what a UUID, a ULID or a proxy's trace id looks like."""
UNMATCHED = "<unmatched>"
"""The route of a request no route took (a 404, a 405 of no path): never the raw path."""

access_log = logging.getLogger("cloud_broker.access")
log = logging.getLogger("cloud_broker.api")


def client_request_id(scope: Scope) -> str | None:
    """The caller's ``X-Request-Id`` when well formed (for the access line only), else None."""
    for name, value in scope.get("headers") or ():
        if name == HEADER.encode():
            inbound = value.decode("latin-1")
            return inbound if WELL_FORMED.match(inbound) else None
    return None


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
        request_id = new_request_id()
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
    inbound = client_request_id(scope)
    if inbound is not None:
        fields["client_request_id"] = inbound
    access_log.info("%(method)s %(route)s %(status)s %(duration_ms)sms request_id=%(request_id)s client=%(client)s",
                    fields, extra={"access": fields})
