"""The console's decisions on a grant: approve (possibly narrowed), deny, comment, revoke.

Each is a plain form POST guarded by ``checked_post`` (session, same origin, CSRF token). The
decision itself is ``Approvals``'s, with all of its checks; the console only translates the
form. Success redirects (303) back to the grant page, so a reload does not send the form
again; a refusal re-renders the page with the reason and the matching status code.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from cloud_broker.domain.scope import ScopeField
from cloud_broker.errors import BrokerError, InvalidInput
from cloud_broker.service.approvals import Narrowing
from cloud_broker.web.context import console_of
from cloud_broker.web.guard import Post, Posted, base_path
from cloud_broker.web.pages import checked_grant_id, show_grant

router = APIRouter()

MAX_TTL_DIGITS = 6


@router.post("/grants/{grant_id}/approve", response_class=HTMLResponse)
def approve(request: Request, grant_id: str, post: Post) -> Response:
    broker = console_of(request).broker
    approvals = broker.approvals

    def act(checked_id: str) -> str:
        fields = broker.deps.family(approvals.grant(checked_id).family).scope_fields
        grant = approvals.approve(checked_id, post.session.approver, narrowing_from(post, fields),
                                  comment=post.text("comment"))
        return f"approve-{grant.status.value}"

    return _act(request, post, grant_id, act)


@router.post("/grants/{grant_id}/deny", response_class=HTMLResponse)
def deny(request: Request, grant_id: str, post: Post) -> Response:
    approvals = console_of(request).broker.approvals

    def act(checked_id: str) -> str:
        approvals.deny(checked_id, post.session.approver, post.text("reason"))
        return "denied"

    return _act(request, post, grant_id, act)


@router.post("/grants/{grant_id}/comment", response_class=HTMLResponse)
def comment(request: Request, grant_id: str, post: Post) -> Response:
    approvals = console_of(request).broker.approvals

    def act(checked_id: str) -> str:
        approvals.comment(checked_id, post.session.approver, post.text("text"))
        return "commented"

    return _act(request, post, grant_id, act)


@router.post("/grants/{grant_id}/revoke", response_class=HTMLResponse)
def revoke(request: Request, grant_id: str, post: Post) -> Response:
    approvals = console_of(request).broker.approvals

    def act(checked_id: str) -> str:
        approvals.revoke(checked_id, post.session.approver, post.text("reason"))
        return "revoked"

    return _act(request, post, grant_id, act)


def narrowing_from(post: Posted, fields: tuple[ScopeField, ...]) -> Narrowing:
    """The approve form lists every item of each list the family lets approvers narrow (AWS:
    actions and resources) as a checkbox, checked by default: what comes back is exactly what
    the approver left ticked, so nothing is approved unseen."""
    ttl_text = post.text("ttl_seconds").strip()
    ttl = None
    if ttl_text:
        if not ttl_text.isdecimal() or len(ttl_text) > MAX_TTL_DIGITS:
            raise InvalidInput("the TTL must be a whole number of seconds")
        ttl = timedelta(seconds=int(ttl_text))
    picks = {field.key: post.texts(field.form_name) for field in fields if field.narrowable}
    return Narrowing(ttl=ttl, **picks)


def _act(request: Request, post: Posted, grant_id: str, action: Callable[[str], str]) -> Response:
    checked_id = checked_grant_id(grant_id)
    try:
        flash = action(checked_id)
    except BrokerError as exc:
        # A reviewer sees the page again with the reason; anyone else gets the bare refusal
        # (show_grant raises Forbidden for them, and the error handler renders it).
        return show_grant(request, post.session, checked_id, status=exc.status, error=exc.text)
    return RedirectResponse(f"{base_path(request)}/grants/{checked_id}?flash={flash}", status_code=303)
