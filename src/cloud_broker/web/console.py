"""The approver console: a server-rendered web UI under ``/console``, working without JavaScript.

It is a separate ASGI app mounted into the broker's API app, so that its HTML error pages,
security headers and cookie never touch the JSON API next to it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from cloud_broker.domain.grants import IllegalTransition
from cloud_broker.errors import BrokerError, Unavailable
from cloud_broker.service.broker import Broker
from cloud_broker.service.review import Review
from cloud_broker.web import actions, login, pages
from cloud_broker.web.context import Console, console_of
from cloud_broker.web.guard import (
    SecurityHeaders,
    SignInRequired,
    base_path,
    optional_session,
)
from cloud_broker.web.render import Renderer
from cloud_broker.web.sessions import Sessions

log = logging.getLogger("cloud_broker.console")

STATIC = Path(__file__).parent / "static"
MOUNT = "/console"


def install_console(app: FastAPI, broker: Broker) -> None:
    """Mount the console at ``/console`` of ``app``, serving approvers of ``broker``'s config."""
    deps = broker.deps
    console_app = FastAPI(title="cloud-broker console", docs_url=None, redoc_url=None, openapi_url=None)
    console_app.state.console = Console(
        broker=broker,
        review=Review(deps, broker.approvals),
        sessions=Sessions(deps.config, deps.store, deps.clock),
        renderer=Renderer(deps.config, deps.clock),
    )
    console_app.add_middleware(SecurityHeaders)
    _install_error_pages(console_app)
    for module in (login, pages, actions):
        console_app.include_router(module.router)
    console_app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.mount(MOUNT, console_app)


def _install_error_pages(console_app: FastAPI) -> None:
    console_app.add_exception_handler(SignInRequired, _sign_in_required)
    console_app.add_exception_handler(BrokerError, _broker_error)
    console_app.add_exception_handler(IllegalTransition, _conflict)
    console_app.add_exception_handler(StarletteHTTPException, _http_error)
    console_app.add_exception_handler(RequestValidationError, _invalid_request)
    console_app.add_exception_handler(Exception, _unexpected)


def _sign_in_required(request: Request, _: Exception) -> Response:
    """Pages send the browser to the sign-in form (and back afterwards); POSTs are refused."""
    if request.method in ("GET", "HEAD"):
        inner = request.url.path[len(base_path(request)):] or "/"
        target = login.safe_next(inner)
        return RedirectResponse(f"{base_path(request)}/login?next={quote(target)}", status_code=303)
    return _error_page(request, 403, "FORBIDDEN: sign in first; nothing was changed")


def _broker_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BrokerError)
    if isinstance(exc, Unavailable):
        # No session lookup: the store is what failed. The browser may retry after a while.
        page = _error_page(request, exc.status, exc.text, signed_in=False)
        page.headers["Retry-After"] = str(exc.retry_after_seconds)
        return page
    return _error_page(request, exc.status, exc.text)


def _conflict(request: Request, exc: Exception) -> Response:
    return _error_page(request, 409, f"CONFLICT: {exc}")


def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    text = {404: "NOT_FOUND: there is no such page", 405: "METHOD_NOT_ALLOWED: this page does not take that method"}
    return _error_page(request, exc.status_code, text.get(exc.status_code, f"HTTP_ERROR: {exc.status_code}"))


def _invalid_request(request: Request, _: Exception) -> Response:
    # The input is not echoed: it may be anything, including a pasted secret.
    return _error_page(request, 400, "INVALID_INPUT: the request was malformed")


def _unexpected(request: Request, exc: Exception) -> Response:
    log.error("unhandled %s in a console request", type(exc).__name__)
    # No session lookup: the store may be what failed.
    return _error_page(request, 500, "INTERNAL: something went wrong in the console", signed_in=False)


def _error_page(request: Request, status: int, message: str, *, signed_in: bool = True) -> Response:
    session = optional_session(request) if signed_in else None
    return console_of(request).renderer.page(request, "error.html", status=status, session=session,
                                             error=message, status_code=status)
