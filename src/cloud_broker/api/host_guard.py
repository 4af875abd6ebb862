"""The door of ASGI apps mounted beside the API (``/mcp``): the host token and the agent it acts for.

A mounted app is no FastAPI route, so it cannot take :func:`~cloud_broker.api.auth.caller_host`
as a dependency. This guard applies the same checks to every request before the app sees it:
the Bearer host token (:func:`~cloud_broker.api.auth.authenticate`), then an agent id header
validated as the API validates agent ids (a UUID) and held to the service's rule that a host
acts only for its own agents. Refusals carry the API's error envelope and the app never runs.

What passed is put in the request scope's ``state`` (``host``, ``agent_id``, ``run_id``): the
app reads its caller from there. A :class:`~cloud_broker.errors.BrokerError` the app raises
before it answered (too many sessions, an unknown session) becomes the same envelope, so the
mounted app's refusals read like the API's own.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.datastructures import Headers

from cloud_broker.api.auth import authenticate
from cloud_broker.api.errors import error_response
from cloud_broker.api.tokens import TokenIssuer
from cloud_broker.domain.grammar import UUID_PATTERN
from cloud_broker.domain.ids import canonical_uuid
from cloud_broker.errors import BrokerError, InvalidInput
from cloud_broker.service.broker import Broker

AGENT_HEADER = "X-Agent-Id"
RUN_HEADER = "X-Run-Id"
_UUID = re.compile(UUID_PATTERN)

Scope = dict[str, Any]
ASGIApp = Any


class HostAgentGuard:
    """Pure ASGI middleware in front of one mounted app (see the module docstring)."""

    def __init__(self, app: ASGIApp, broker: Broker, tokens: TokenIssuer) -> None:
        self.app = app
        self._broker = broker
        self._tokens = tokens

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched_send(message: Any) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(self._admitted(scope), receive, watched_send)
        except BrokerError as exc:
            if started:
                raise
            await error_response(exc.status, exc.code, exc.message)(scope, receive, send)

    def _admitted(self, scope: Scope) -> Scope:
        """The scope with the caller in ``state``; raises (token first: no token, no other answer)."""
        headers = Headers(scope=scope)
        verified = authenticate(headers.get("authorization", ""), self._tokens, self._broker.deps.config)
        agent_id = _uuid_header(headers, AGENT_HEADER)
        if agent_id is None:
            raise InvalidInput(f"the {AGENT_HEADER} header is required: the agent this host acts for")
        agent = self._broker.access.agent(verified.host, agent_id)
        run_id = _uuid_header(headers, RUN_HEADER)
        state = {**scope.get("state", {}), "host": verified.host, "agent_id": agent.id, "run_id": run_id}
        return {**scope, "state": state}


def _uuid_header(headers: Headers, name: str) -> str | None:
    """A UUID header in canonical form, None when absent; malformed is refused without echoing it."""
    value = headers.get(name)
    if value is None:
        return None
    if not _UUID.match(value.strip()):
        raise InvalidInput(f"the {name} header must be a UUID (8-4-4-4-12 hexadecimal digits)")
    return canonical_uuid(value.strip())
