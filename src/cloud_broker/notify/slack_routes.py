"""``POST /slack/interactivity``: an approver's Approve or Deny click, acted on.

Every refusal (unknown Slack user, not an approver, self-approval, already resolved) comes back
as a 200 with readable text, also posted to the click's ``response_url`` as an ephemeral
message (Slack does not show the HTTP reply of a button click); only a request that is not
provably from Slack gets a 401. The Slack message itself is updated
elsewhere, from the event feed, so a click here and a click in the console look the same.

Slack shows the clicker an error unless the reply comes within 3 seconds, and an approval
mints credentials with the cloud first. So the decision runs as a task that the reply waits
on for at most ``REPLY_WITHIN_SECONDS``; a slower one is answered "working on it" at once,
and its outcome follows through ``response_url`` when it is done.
"""

from __future__ import annotations

import asyncio
import logging
import time
from urllib.parse import urlsplit

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import JSONResponse
from slack_sdk.webhook import WebhookClient
from starlette.concurrency import run_in_threadpool

from cloud_broker.api.errors import error_response
from cloud_broker.api.state import broker_of
from cloud_broker.domain.grants import Grant, GrantStatus
from cloud_broker.errors import BrokerError, InvalidInput, Unauthenticated
from cloud_broker.notify.cards import required_approvals, resolution_text
from cloud_broker.notify.slack_interactivity import SlackAction, verify_and_parse
from cloud_broker.service.broker import Broker

MAX_BODY_BYTES = 64 * 1024
# Slack's limit is 3 s from its side; the rest is left for the network and the signature check.
REPLY_WITHIN_SECONDS = 2.5
WORKING = "Working on it… the outcome will follow here in a moment."
LOST = ("The decision could not be confirmed because of an internal error; check the grant in the "
        "console before acting again.")
log = logging.getLogger("cloud_broker.notify.slack")
# Decisions still running after their reply went out; held so the event loop does not drop them.
_LATE: set[asyncio.Task[None]] = set()


class _TooLarge(Exception):
    pass


SLACK_REPLY_HOSTS = frozenset({"hooks.slack.com"})


def slack_router(signing_secret: str, *, reply_hosts: frozenset[str] = SLACK_REPLY_HOSTS) -> APIRouter:
    """The interactivity endpoint, bound to the app's signing secret. Replies go only to
    ``response_url`` hosts in ``reply_hosts``: even a signed payload must not make the broker
    post to an arbitrary address."""
    router = APIRouter()

    @router.post("/slack/interactivity", include_in_schema=False)
    async def interactivity(request: Request, background: BackgroundTasks) -> JSONResponse:
        try:
            body = await _read_capped(request)
        except _TooLarge:
            return error_response(413, "PAYLOAD_TOO_LARGE", f"a Slack interaction is at most {MAX_BODY_BYTES} bytes")
        try:
            action = verify_and_parse(signing_secret, request.headers, body, now=time.time())
        except (Unauthenticated, InvalidInput) as exc:
            return error_response(exc.status, exc.code, exc.message)
        reply_to = action.response_url if action.response_url and _reply_allowed(action.response_url,
                                                                                   reply_hosts) else None
        decision = asyncio.ensure_future(run_in_threadpool(decide, await broker_of(request), action))
        try:
            text = await asyncio.wait_for(asyncio.shield(decision), REPLY_WITHIN_SECONDS)
        except TimeoutError:
            late = asyncio.ensure_future(_finish_late(decision, reply_to, action.grant_id))
            _LATE.add(late)
            late.add_done_callback(_LATE.discard)
            return JSONResponse({"response_type": "ephemeral", "text": WORKING})
        if reply_to:
            background.add_task(_reply, reply_to, text)
        return JSONResponse({"response_type": "ephemeral", "text": text})

    return router


def decide(broker: Broker, action: SlackAction) -> str:
    """Act on a verified click as the approver the Slack user is declared to be."""
    approver = broker.deps.config.approver_by_slack_user(action.user_id)
    if approver is None:
        log.warning("slack click on grant %s by undeclared Slack user %s refused", action.grant_id, action.user_id)
        return (f"UNKNOWN_SLACK_USER: your Slack account ({action.user_id}) is not declared as an approver "
                "of this broker; nothing was changed")
    try:
        if action.action == "approve":
            grant = broker.approvals.approve(action.grant_id, approver.name)
        else:
            grant = broker.approvals.deny(action.grant_id, approver.name, f"denied from Slack by {approver.name}")
    except BrokerError as exc:
        log.info("slack %s of grant %s by %s refused: %s", action.action, action.grant_id, approver.name, exc.code)
        return exc.text
    log.info("slack %s of grant %s by %s: now %s", action.action, action.grant_id, approver.name, grant.status.value)
    return _outcome(broker, grant)


def _outcome(broker: Broker, grant: Grant) -> str:
    """What the clicker reads, in the card's words; an approval can also end denied (the ceiling
    was tightened) or failed (the cloud refused to mint), and they must not think it worked."""
    text = resolution_text(grant, grant.status, required_approvals(broker.deps, grant))
    if grant.status is GrantStatus.PENDING:
        return f"Your approval of grant {grant.grant_id} is recorded: {text}."
    return f"Grant {grant.grant_id} is now {grant.status.value} — {text}."


async def _finish_late(decision: asyncio.Future[str], reply_to: str | None, grant_id: str) -> None:
    """Tell the clicker how a decision that outran the reply ended."""
    try:
        text = await decision
    except Exception as exc:  # noqa: BLE001 - the clicker must still hear something
        log.error("slack decision on grant %s failed: %s", grant_id, type(exc).__name__)
        text = LOST
    if reply_to:
        await run_in_threadpool(_reply, reply_to, text)


def _reply_allowed(url: str, hosts: frozenset[str]) -> bool:
    parts = urlsplit(url)
    secure = parts.scheme == "https" or parts.hostname in ("127.0.0.1", "localhost")
    return secure and parts.hostname in hosts


def _reply(url: str, text: str) -> None:
    """Best effort: the decision is already made and recorded; a lost reply loses only the notice."""
    try:
        WebhookClient(url, timeout=5).send(text=text, response_type="ephemeral", replace_original=False)
    except Exception as exc:  # noqa: BLE001 - network trouble must not surface as a server error
        log.warning("slack response_url reply failed: %s", type(exc).__name__)


async def _read_capped(request: Request) -> bytes:
    """Read at most ``MAX_BODY_BYTES``: the signature check needs the whole body in memory."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _TooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)
