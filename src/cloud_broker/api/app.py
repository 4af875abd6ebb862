"""The app factory: everything the API needs is passed in; nothing is read from globals."""

from __future__ import annotations

from fastapi import FastAPI

from cloud_broker import __version__
from cloud_broker.api import routes_events, routes_host, routes_ops
from cloud_broker.api.errors import ERROR_RESPONSES, install_error_handlers
from cloud_broker.api.limits import BodyLimit
from cloud_broker.api.request_scope import RequestScope
from cloud_broker.api.routes_family import family_router
from cloud_broker.api.routes_ops import Operations, unwired_operations, watch
from cloud_broker.api.routes_resolve import resolve_router
from cloud_broker.api.tokens import TokenIssuer
from cloud_broker.plugins import Families, installed_families
from cloud_broker.service.broker import Broker
from cloud_broker.service.feed_head import FeedHead


def create_app(broker: Broker, tokens: TokenIssuer, families: Families | None = None, *,
               operations: Operations | None = None) -> FastAPI:
    """The API of ``broker``, with one route family per family it serves (``families``, when
    given, for an app built only for its OpenAPI document). ``operations``: the metrics the
    wiring feeds and its readiness check; by default fresh ones (``routes_ops.unwired_operations``)."""
    if families is None:
        families = broker.deps.families if broker is not None else installed_families()
    operations = operations or unwired_operations(broker, families)
    app = FastAPI(
        title="cloud-broker API",
        version=__version__,
        description="Scoped, short-lived cloud credentials for AI agents.",
        docs_url=None,
        redoc_url=None,
    )
    app.state.broker = broker
    app.state.tokens = tokens
    app.state.event_streams = routes_events.StreamSlots()
    app.state.feed_head = FeedHead(broker.deps.store) if broker is not None else None
    app.state.operations = operations
    if broker is not None:
        watch(operations, broker, app.state.event_streams.total)
    install_error_handlers(app)
    app.add_middleware(BodyLimit)
    app.add_middleware(RequestScope)  # added last: outermost, it sees every answer and every failure
    routers = [routes_host.router, routes_ops.router, *(family_router(f) for f in families.values()),
               routes_host.unserved_inventories(families), routes_events.router, resolve_router(families)]
    for router in routers:
        app.include_router(router, responses=ERROR_RESPONSES)
    return app
