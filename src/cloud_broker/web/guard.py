"""Who is asking, and whether a state-changing request really comes from the console itself.

Every POST that changes something needs two things an attacker's page cannot supply: the
session's CSRF token (in a hidden field) and, when the browser says where the form came from
(``Origin``, ``Sec-Fetch-Site``), the console's own origin. The cookie is SameSite=Strict on
top, but "same site" ignores ports, so it alone would let another service on the same host in.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import FormData, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cloud_broker.errors import Forbidden
from cloud_broker.service.ports import ConsoleSession
from cloud_broker.web.context import console_of
from cloud_broker.web.sessions import COOKIE

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'none'; frame-ancestors 'none'; form-action 'self'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}
# Fetch metadata a console form sends; "same-site" would include other ports of this host.
ALLOWED_FETCH_SITES = frozenset({"same-origin", "none"})


class SecurityHeaders:
    """ASGI middleware: every console response, error pages included, carries the headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


class SignInRequired(Exception):
    """No live session: pages redirect to the sign-in form, POSTs are refused."""


@dataclass(frozen=True)
class Posted:
    """A state-changing request that passed every check: who sent it, and the form."""

    session: ConsoleSession
    form: FormData

    def text(self, name: str) -> str:
        value = self.form.get(name)
        return value if isinstance(value, str) else ""

    def texts(self, name: str) -> tuple[str, ...]:
        return tuple(v for v in self.form.getlist(name) if isinstance(v, str))


def base_path(request: Request) -> str:
    """Where the console is mounted (``/console``), as the browser sees it."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def is_https(request: Request) -> bool:
    public_url = console_of(request).broker.deps.config.broker.public_url or ""
    return request.url.scheme == "https" or public_url.startswith("https://")


def session_of(request: Request) -> ConsoleSession:
    """Dependency: the signed-in approver's session (a sync def: it reads the store)."""
    session = console_of(request).sessions.find(request.cookies.get(COOKIE))
    if session is None:
        raise SignInRequired()
    return session


def optional_session(request: Request) -> ConsoleSession | None:
    return console_of(request).sessions.find(request.cookies.get(COOKIE))


async def form_of(request: Request) -> FormData:
    return await request.form(max_files=0, max_fields=500)


def refuse_foreign_origin(request: Request) -> None:
    """403 when the browser reports that the form came from anywhere but this console.

    With ``Referrer-Policy: no-referrer`` browsers send ``Origin: null`` even for the console's
    own forms; ``null`` is then accepted only with ``Sec-Fetch-Site: same-origin``, a header
    pages cannot set. Everything else must name this console's origin exactly.
    """
    site = (request.headers.get("sec-fetch-site") or "").lower()
    origin = (request.headers.get("origin") or "").lower().rstrip("/")
    if site and site not in ALLOWED_FETCH_SITES:
        raise _cross_origin()
    if not origin or (origin == "null" and site == "same-origin"):
        return
    if origin not in _own_origins(request):
        raise _cross_origin()


def _cross_origin() -> Forbidden:
    return Forbidden("this form was sent from another site and was refused; nothing was changed", code="CROSS_ORIGIN")


def checked_post(
    request: Request,
    session: Annotated[ConsoleSession, Depends(session_of)],
    form: Annotated[FormData, Depends(form_of)],
) -> Posted:
    """Dependency of every state-changing POST: same origin, then the session's CSRF token."""
    refuse_foreign_origin(request)
    token = form.get("csrf")
    if not isinstance(token, str) or not hmac.compare_digest(token.encode(), session.csrf_token.encode()):
        raise Forbidden("the form's security token is missing or stale; reload the page and try again",
                        code="CSRF_REFUSED")
    return Posted(session=session, form=form)


def _own_origins(request: Request) -> frozenset[str]:
    """The origin the request was addressed to, and the configured public one (behind a proxy)."""
    origins = {f"{request.url.scheme}://{request.url.netloc}".lower()}
    public_url = console_of(request).broker.deps.config.broker.public_url
    if public_url:
        scheme, _, rest = public_url.partition("://")
        origins.add(f"{scheme}://{rest.split('/', 1)[0]}".lower())
    return frozenset(origins)


Session = Annotated[ConsoleSession, Depends(session_of)]
Post = Annotated[Posted, Depends(checked_post)]
