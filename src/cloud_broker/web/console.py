"""The approver console: a server-rendered web UI under ``/console``, working without JavaScript.

It is a separate ASGI app mounted into the broker's API app, so that its HTML error pages,
security headers and cookie never touch the JSON API next to it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from cloud_broker.domain.grants import IllegalTransition
from cloud_broker.errors import BrokerError, ConfigError, Unavailable
from cloud_broker.service.broker import Broker
from cloud_broker.service.review import Review
from cloud_broker.web import actions, login, pages, shared_throttle
from cloud_broker.web.context import Console, console_of
from cloud_broker.web.guard import (
    SecurityHeaders,
    SignInRequired,
    base_path,
    optional_session,
)
from cloud_broker.web.issuer import Issuer
from cloud_broker.web.render import Renderer
from cloud_broker.web.sessions import Sessions
from cloud_broker.web.sso import CALLBACK, SingleSignOn
from cloud_broker.web.sso_state import KEY_PURPOSE, StateSeal

log = logging.getLogger("cloud_broker.console")

STATIC = Path(__file__).parent / "static"
MOUNT = "/console"


def install_console(app: FastAPI, broker: Broker, secrets: Mapping[str, str] | None = None) -> None:
    """Mount the console at ``/console`` of ``app``, serving approvers of ``broker``'s config.

    ``secrets``: the values of the environment variables broker.yaml names; single sign-on needs
    its client secret among them and refuses to be installed without it.
    """
    deps = broker.deps
    console_app = FastAPI(title="cloud-broker console", docs_url=None, redoc_url=None, openapi_url=None)
    console_app.state.console = Console(
        broker=broker,
        review=Review(deps, broker.approvals),
        sessions=Sessions(deps.config, deps.store, deps.clock,
                          throttle_key=deps.vault.derive_key(shared_throttle.HASH_PURPOSE)),
        renderer=Renderer(deps.config, deps.clock),
        sso=single_sign_on(broker, secrets or {}),
    )
    console_app.add_middleware(SecurityHeaders)
    _install_error_pages(console_app)
    for module in (login, pages, actions):
        console_app.include_router(module.router)
    console_app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.mount(MOUNT, console_app)


def single_sign_on(broker: Broker, secrets: Mapping[str, str]) -> SingleSignOn | None:
    """The configured single sign-on, or None; a ConfigError when its client secret is missing."""
    deps = broker.deps
    settings = deps.config.broker.console_sso
    if settings is None:
        return None
    client_secret = secrets.get(settings.client_secret_env)
    if not client_secret:
        raise ConfigError([(f"broker.console_sso.client_secret_env: environment variable {settings.client_secret_env} "
                            "is not set: single sign-on cannot start without it")])
    # public_url is required with console_sso (see BrokerSettings).
    redirect_uri = f"{str(deps.config.broker.public_url).rstrip('/')}{MOUNT}{CALLBACK}"
    issuer = Issuer(settings, client_secret, redirect_uri, deps.clock)
    return SingleSignOn(deps.config, issuer, StateSeal(deps.vault.derive_key(KEY_PURPOSE), deps.clock), deps.clock)


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
