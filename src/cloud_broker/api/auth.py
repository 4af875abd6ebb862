"""Who is calling: a host, proven by a Bearer JWT from ``/host/exchange``.

A valid signature is not enough: the token must still stand on the loaded broker.yaml. Its
host must exist, a token exchanged for a key needs that key still listed, and no token may
predate the host's ``tokens_not_before``. Every route authenticates here, the event stream
included, so removing a key and restarting the broker cuts its tokens off everywhere at once.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPBearer

from cloud_broker.api.state import broker_of, tokens_of
from cloud_broker.api.tokens import TokenIssuer, VerifiedToken
from cloud_broker.config import BrokerConfig
from cloud_broker.errors import Unauthenticated
from cloud_broker.service.broker import Broker

log = logging.getLogger("cloud_broker.api")

REVOKED = "TOKEN_REVOKED"


class HostTokenScheme(HTTPBearer):
    """The Bearer scheme, as the OpenAPI document declares it; checking is ``caller_host``'s job.

    Without it the document said nothing about authentication, so neither readers nor
    generated clients could tell which routes need a token.
    """

    async def __call__(self, request: Request) -> None:  # type: ignore[override]
        return None


HOST_TOKEN = HostTokenScheme(scheme_name="HostToken", bearerFormat="JWT",
                             description="A host token from POST /host/exchange (or `cloud-broker token issue`)")


async def caller_host(
    request: Request,
    tokens: Annotated[TokenIssuer, Depends(tokens_of)],
    broker: Annotated[Broker, Depends(broker_of)],
    _declared: Annotated[None, Security(HOST_TOKEN)] = None,
) -> str:
    """The calling host's name; raises ``Unauthenticated`` (never echoing the token) otherwise.
    A coroutine without I/O (``api.state``): verifying an HS256 token is tens of microseconds."""
    verified = authenticate(request.headers.get("authorization", ""), tokens, broker.deps.config)
    request.state.host = verified.host
    request.state.token_expires = verified.expires
    return verified.host


def authenticate(authorization: str, tokens: TokenIssuer, config: BrokerConfig) -> VerifiedToken:
    """The host token of an ``Authorization`` header, verified and still standing on ``config``.

    One check for every door into the broker (the API routes, and apps mounted beside them such
    as ``/mcp``); raises ``Unauthenticated`` without echoing the token.
    """
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("a Bearer token is required", code="UNAUTHENTICATED")
    verified = tokens.verify_token(token.strip())
    refusal = revocation(verified, config)
    if refusal is not None:
        # The name comes from a signed claim; worth a warning, as a revoked key still in use may be a leak.
        log.warning("refused a revoked token of host %r: %s", verified.host, refusal)
        raise Unauthenticated(refusal, code=REVOKED)
    return verified


def revocation(token: VerifiedToken, config: BrokerConfig) -> str | None:
    """Why ``token`` no longer holds under ``config`` (a message for the caller), or None."""
    host = config.host(token.host)
    if host is None:
        return "the host this token was issued to is no longer configured"
    binding = token.binding
    if binding is None:
        return ("this token carries no binding this broker knows (an older broker issued it): "
                "exchange the host key again, or ask the operator for a new token")
    if host.tokens_not_before is not None and token.issued_at < host.tokens_not_before:
        return ("this token was issued before the host's tokens_not_before and is revoked: "
                "exchange a current host key, or ask the operator for a new token")
    if binding.kind == "key" and binding.fingerprint not in config.host_key_fingerprints(host.name):
        return "the host key behind this token is no longer configured: exchange a current host key"
    return None
