"""Host authentication, and empty inventories of families this broker does not serve."""

from __future__ import annotations

from collections.abc import Callable, Iterable
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


# The families the published client asks for at boot, and the array each inventory holds.
PUBLISHED_INVENTORIES = {"aws": "accounts", "gcp": "projects", "supabase": "projects"}


def unserved_inventories(served: Iterable[str]) -> APIRouter:
    """An empty inventory for each family the published client knows and this broker does not
    serve: the client's boot look-up then succeeds and shows no targets, instead of warning."""
    unserved = APIRouter()
    for name, key in PUBLISHED_INVENTORIES.items():
        if name not in served:
            unserved.add_api_route(f"/{name}/inventory", _empty(key), methods=["GET"], tags=["inventory"],
                                   name=f"{name}_inventory")
    return unserved


def _empty(key: str) -> Callable[..., dict[str, Any]]:
    def inventory(_: Annotated[str, Depends(caller_host)]) -> dict[str, Any]:
        return {key: []}

    return inventory

