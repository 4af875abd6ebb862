"""Request-time access to what the app was built with (no module-level globals).

These and the other dependencies of the routes that do no I/O are coroutines: FastAPI sends
a plain function to the thread pool, one hop there and back per dependency per request, which
cost more than the work itself.
"""

from __future__ import annotations

from fastapi import Request

from cloud_broker.api.tokens import TokenIssuer
from cloud_broker.service.broker import Broker


async def broker_of(request: Request) -> Broker:
    return request.app.state.broker  # type: ignore[no-any-return]


async def tokens_of(request: Request) -> TokenIssuer:
    return request.app.state.tokens  # type: ignore[no-any-return]
