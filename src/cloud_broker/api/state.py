"""Request-time access to what the app was built with (no module-level globals)."""

from __future__ import annotations

from fastapi import Request

from cloud_broker.api.tokens import TokenIssuer
from cloud_broker.service.broker import Broker


def broker_of(request: Request) -> Broker:
    return request.app.state.broker  # type: ignore[no-any-return]


def tokens_of(request: Request) -> TokenIssuer:
    return request.app.state.tokens  # type: ignore[no-any-return]
