"""Sign-in and sign-out pages, and the session cookie: with a password, or by single sign-on.

The cookie is HttpOnly (no script reads it), SameSite=Strict (no other site's navigation
carries it), scoped to the console's path, Secure whenever the console is reached over
HTTPS, and lives exactly as long as the server-side row.

The sign-in routes stay sync ``def`` on purpose: ``Sessions.sign_in`` and the single sign-on
exchange bound how many of the pool's threads they may hold (see ``checks.py``), so they
cannot starve the agent API.

A single sign-on ends on a small page that moves on to the console by itself: the provider's
redirect is a navigation begun on another site, on which browsers withhold a SameSite=Strict
cookie; the page's own navigation is same-site and carries the new session cookie.
"""

from __future__ import annotations

import logging
import re
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from cloud_broker.service.ports import ConsoleSession
from cloud_broker.web.checks import Busy
from cloud_broker.web.context import console_of
from cloud_broker.web.guard import (
    Post,
    base_path,
    form_of,
    is_https,
    optional_session,
    refuse_foreign_origin,
)
from cloud_broker.web.issuer import IssuerUnavailable, SsoRefused
from cloud_broker.web.sessions import COOKIE, NewSession, Throttled
from cloud_broker.web.sso import CALLBACK, NotAnApprover
from cloud_broker.web.sso_state import PENDING_TTL, STATE_COOKIE

log = logging.getLogger("cloud_broker.console")
router = APIRouter()

# Where to go after signing in: a path inside the console, nothing that could leave it.
_NEXT = re.compile(r"^/(?!/)[A-Za-z0-9/_-]{0,200}$")
SIGN_IN_FAILED = "Sign-in failed: unknown name or wrong password."
THROTTLED = "Too many failed sign-ins for this name or from this address; wait a few minutes and try again."
BUSY = "The console is busy checking other sign-ins; wait a moment and try again. Your password was not checked."
# Seconds a client is asked to wait after BUSY: a few checks' worth, as the bounded wait was.
BUSY_RETRY_AFTER = "1"
SSO_BUSY = "The console is busy with other single sign-ons; wait a moment and reload this page. Nothing was signed in yet."


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, session: Annotated[ConsoleSession | None, Depends(optional_session)],
               next: str = "/") -> Response:
    if session is not None:
        return RedirectResponse(f"{base_path(request)}{safe_next(next)}", status_code=303)
    return _login_page(request, next)


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, form: Annotated[FormData, Depends(form_of)]) -> Response:
    refuse_foreign_origin(request)
    console = console_of(request)
    name, password, target = (_field(form, f) for f in ("name", "password", "next"))
    try:
        created = console.sessions.sign_in(name, password, _address(request))
    except Throttled:
        return _login_page(request, target, status=429, error=THROTTLED, name=name)
    except Busy:
        busy = _login_page(request, target, status=429, error=BUSY, name=name)
        busy.headers["Retry-After"] = BUSY_RETRY_AFTER
        return busy
    if created is None:
        return _login_page(request, target, status=401, error=SIGN_IN_FAILED, name=name)
    response = RedirectResponse(f"{base_path(request)}{safe_next(target)}", status_code=303)
    set_session_cookie(request, response, created)
    return response


@router.get("/sso/start")
def sso_start(request: Request, next: str = "/") -> Response:
    """Off to the provider, with this attempt's state, nonce and verifier sealed in a cookie."""
    sso = console_of(request).sso
    if sso is None:
        return _login_page(request, next, status=404, error="Single sign-on is not configured for this console.")
    try:
        url, sealed = sso.start(safe_next(next))
    except SsoRefused as exc:  # discovery failed: the provider is down or misconfigured
        return _sso_refused(request, 502, exc.reason)
    response = RedirectResponse(url, status_code=303)
    # Lax, not Strict: the provider's redirect back is a navigation from another site.
    response.set_cookie(STATE_COOKIE, sealed, max_age=int(PENDING_TTL.total_seconds()), path=_sso_path(request),
                        secure=is_https(request), httponly=True, samesite="lax")
    return response


@router.get(CALLBACK, response_class=HTMLResponse)
def sso_callback(request: Request) -> Response:
    """The provider's answer: an approver signed in, or a refusal page and nobody signed in."""
    console = console_of(request)
    if console.sso is None:
        return _login_page(request, "/", status=404, error="Single sign-on is not configured for this console.")
    try:
        signed_in = console.sso.finish(request.query_params, request.cookies.get(STATE_COOKIE))
    except Busy:  # the code was not sent anywhere: the state cookie stays, and a reload retries
        busy = _login_page(request, "/", status=429, error=SSO_BUSY)
        busy.headers["Retry-After"] = BUSY_RETRY_AFTER
        return busy
    except SsoRefused as exc:
        status = 502 if isinstance(exc, IssuerUnavailable) else 403 if isinstance(exc, NotAnApprover) else 401
        return _sso_refused(request, status, exc.reason)
    created = console.sessions.open_session(signed_in.approver, _address(request), "single sign-on")
    target = f"{base_path(request)}{safe_next(signed_in.next)}"
    response = console.renderer.page(request, "signed_in.html", session=None, target=target,
                                     approver=signed_in.approver)
    set_session_cookie(request, response, created)
    _forget_pending(request, response)
    return response


@router.post("/logout")
def logout(request: Request, post: Post) -> Response:
    console_of(request).sessions.sign_out(request.cookies.get(COOKIE))
    response = RedirectResponse(f"{base_path(request)}/login?flash=signed-out", status_code=303)
    response.delete_cookie(COOKIE, path=base_path(request) or "/", secure=is_https(request), httponly=True,
                           samesite="strict")
    return response


def set_session_cookie(request: Request, response: Response, created: NewSession) -> None:
    response.set_cookie(
        COOKIE, created.token, max_age=int(console_of(request).sessions.lifetime.total_seconds()),
        path=base_path(request) or "/", secure=is_https(request), httponly=True, samesite="strict",
    )


def _login_page(request: Request, target: str, *, status: int = 200, error: str | None = None,
                name: str = "") -> Response:
    return console_of(request).renderer.page(request, "login.html", status=status, error=error,
                                             next=safe_next(target), name=name,
                                             sso=console_of(request).sso is not None)


def _sso_refused(request: Request, status: int, reason: str) -> Response:
    """The sign-in form with why single sign-on failed; the attempt's cookie is spent."""
    log.info("console single sign-on refused from %s: %s", _address(request), reason)
    response = _login_page(request, "/", status=status, error=f"Single sign-on refused: {reason}. Nothing was signed in.")
    _forget_pending(request, response)
    return response


def _forget_pending(request: Request, response: Response) -> None:
    response.delete_cookie(STATE_COOKIE, path=_sso_path(request), secure=is_https(request), httponly=True,
                           samesite="lax")


def _sso_path(request: Request) -> str:
    return f"{base_path(request)}/sso"


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def safe_next(target: str) -> str:
    return target if _NEXT.match(target or "") else "/"


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""
