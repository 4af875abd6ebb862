"""Host authentication and the inventories of families not served yet."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from cloud_broker.api.auth import caller_host
from cloud_broker.api.schemas import HostExchangeBody
from cloud_broker.api.state import broker_of, tokens_of
from cloud_broker.api.tokens import TokenBinding, TokenIssuer
from cloud_broker.errors import Unauthenticated
from cloud_broker.service.broker import Broker

router = APIRouter()


@router.post("/host/exchange", tags=["auth"])
def exchange(
    body: HostExchangeBody,
    broker: Annotated[Broker, Depends(broker_of)],
    tokens: Annotated[TokenIssuer, Depends(tokens_of)],
) -> dict[str, Any]:
    match = broker.deps.config.match_host_key(body.host_key)
    if match is None:
        # The body reaches the model through the client's error text: it never echoes the key.
        raise Unauthenticated("unknown host key", code="INVALID_HOST_KEY")
    # Bound to the key: removing its hash from broker.yaml revokes this token (see api.auth).
    token = tokens.issue(match.host.name, binding=TokenBinding.host_key(match.fingerprint))
    return {"token": token, "expires_in": int(tokens.ttl.total_seconds()), "token_type": "Bearer"}


@router.get("/gcp/inventory", tags=["inventory"])
def gcp_inventory(_: Annotated[str, Depends(caller_host)]) -> dict[str, Any]:
    return {"projects": []}


@router.get("/supabase/inventory", tags=["inventory"])
def supabase_inventory(_: Annotated[str, Depends(caller_host)]) -> dict[str, Any]:
    return {"projects": []}


@router.get("/healthz", tags=["ops"])
def healthz() -> dict[str, Any]:
    return {"ok": True}
