"""Who is calling: a host, proven by a Bearer JWT from ``/host/exchange``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from cloud_broker.api.state import tokens_of
from cloud_broker.api.tokens import TokenIssuer
from cloud_broker.errors import Unauthenticated


def caller_host(request: Request, tokens: Annotated[TokenIssuer, Depends(tokens_of)]) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("a Bearer token is required", code="UNAUTHENTICATED")
    host, expires = tokens.verify_with_expiry(token.strip())
    request.state.host = host
    request.state.token_expires = expires
    return host
