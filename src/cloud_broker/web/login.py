"""Sign-in and sign-out pages, and the session cookie.

The cookie is HttpOnly (no script reads it), SameSite=Strict (no other site's navigation
carries it), scoped to the console's path, Secure whenever the console is reached over
HTTPS, and lives exactly as long as the server-side row.

The sign-in route stays a sync ``def`` on purpose: ``Sessions.sign_in`` bounds how many of
the pool's threads it may hold (see ``checks.py``), so it cannot starve the agent API.
"""

from __future__ import annotations

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
from cloud_broker.web.sessions import COOKIE, Throttled

router = APIRouter()

# Where to go after signing in: a path inside the console, nothing that could leave it.
_NEXT = re.compile(r"^/(?!/)[A-Za-z0-9/_-]{0,200}$")
SIGN_IN_FAILED = "Sign-in failed: unknown name or wrong password."
THROTTLED = "Too many failed sign-ins for this name or from this address; wait a few minutes and try again."
BUSY = "The console is busy checking other sign-ins; wait a moment and try again. Your password was not checked."
# Seconds a client is asked to wait after BUSY: a few checks' worth, as the bounded wait was.
BUSY_RETRY_AFTER = "1"


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, session: Annotated[ConsoleSession | None, Depends(optional_session)],
               next: str = "/") -> Response:
    if session is not None:
        return RedirectResponse(f"{base_path(request)}{safe_next(next)}", status_code=303)
    return console_of(request).renderer.page(request, "login.html", next=safe_next(next), name="")


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, form: Annotated[FormData, Depends(form_of)]) -> Response:
    refuse_foreign_origin(request)
    console = console_of(request)
    name, password, target = (_field(form, f) for f in ("name", "password", "next"))
    address = request.client.host if request.client else "unknown"
    try:
        created = console.sessions.sign_in(name, password, address)
    except Throttled:
        return console.renderer.page(request, "login.html", status=429, error=THROTTLED,
                                     next=safe_next(target), name=name)
    except Busy:
        busy = console.renderer.page(request, "login.html", status=429, error=BUSY, next=safe_next(target), name=name)
        busy.headers["Retry-After"] = BUSY_RETRY_AFTER
        return busy
    if created is None:
        return console.renderer.page(request, "login.html", status=401, error=SIGN_IN_FAILED,
                                     next=safe_next(target), name=name)
    response = RedirectResponse(f"{base_path(request)}{safe_next(target)}", status_code=303)
    response.set_cookie(
        COOKIE, created.token, max_age=int(console.sessions.lifetime.total_seconds()), path=base_path(request) or "/",
        secure=is_https(request), httponly=True, samesite="strict",
    )
    return response


@router.post("/logout")
def logout(request: Request, post: Post) -> Response:
    console_of(request).sessions.sign_out(request.cookies.get(COOKIE))
    response = RedirectResponse(f"{base_path(request)}/login?flash=signed-out", status_code=303)
    response.delete_cookie(COOKIE, path=base_path(request) or "/", secure=is_https(request), httponly=True,
                           samesite="strict")
    return response


def safe_next(target: str) -> str:
    return target if _NEXT.match(target or "") else "/"


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""
