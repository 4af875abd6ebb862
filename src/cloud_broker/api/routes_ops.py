"""What an operator's tooling asks: is the process up, can it serve, how is it doing.

None of these routes needs a token: probes and Prometheus scrapers carry none, and nothing
here names an agent, a grant or a secret. ``/metrics`` shows aggregate counts whose labels come
from closed sets only (installed family names and fixed enums, ``observability.labels``).
An operator who exposes the broker beyond a trusted network restricts ``/metrics`` at the
proxy in front of it, as with any Prometheus endpoint.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from cloud_broker.api.errors import error_response
from cloud_broker.observability.metrics import CONTENT_TYPE, BrokerMetrics
from cloud_broker.service.broker import Broker
from cloud_broker.service.ports import PendingQueue

router = APIRouter(tags=["ops"])

Readiness = Callable[[], str | None]
"""None when the broker can serve; else why not (shown to the caller: no secret, no URL)."""


@dataclass(frozen=True)
class Operations:
    """What the ops routes report from: the app's metrics and the store's readiness check."""

    metrics: BrokerMetrics
    readiness: Readiness


def unwired_operations(broker: Broker | None, families: Iterable[str]) -> Operations:
    """For an app built without ``serve``'s wiring (tests, in-process embedders): fresh metrics,
    and a readiness that checks only that the store answers (the wiring adds its revision)."""
    def store_answers() -> str | None:
        if broker is None:
            return "this app has no broker"
        try:
            with broker.deps.store.reading() as uow:
                uow.last_audit_seq()
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready"; its text may hold anything
            return f"the store did not answer ({type(exc).__name__})"
        return None

    return Operations(BrokerMetrics(families), store_answers)


def watch(operations: Operations, broker: Broker, streams: Callable[[], int]) -> None:
    """Point the scrape-time gauges at ``broker``'s store and the app's open streams."""
    def pending(limit: int) -> list[PendingQueue]:
        with broker.deps.store.reading() as uow:  # never waits for, nor holds up, a writer
            return uow.pending_queue(limit)

    operations.metrics.scrape.watch(pending, broker.deps.clock, streams)


def operations_of(request: Request) -> Operations:
    return request.app.state.operations  # type: ignore[no-any-return]


@router.get("/healthz")
def healthz() -> dict[str, Any]:
    """The process is up and answering; says nothing of the store (that is ``/readyz``)."""
    return {"ok": True}


@router.get("/readyz", responses={503: {"description": "Not ready: the store does not answer, or its "
                                                      "schema is not at this broker's revision"}})
def readyz(request: Request) -> JSONResponse:
    """200 when the store answers and its schema is at the revision this code knows."""
    problem = operations_of(request).readiness()
    if problem is not None:
        return error_response(503, "NOT_READY", problem)
    return JSONResponse({"ok": True})


@router.get("/metrics", response_class=Response, include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Prometheus metrics; the queue gauges are read from the store now, in a worker thread.
    Left out of the OpenAPI document: its reader is Prometheus, not an API client, and every
    answer the document describes is JSON."""
    body = await run_in_threadpool(operations_of(request).metrics.render)
    return Response(body, media_type=CONTENT_TYPE)
