"""Pushing outcomes: from the grant event feed to delivery rows, and from rows to receivers.

Two steps, each safe to repeat. First the feed is read from a persisted cursor and every
event that someone waits on becomes delivery rows; the rows are unique per (event, kind,
target) and the cursor moves in the same transaction, so a restart or a second broker
process never enqueues twice. Then due rows are sent by the broker's job runner
(``service.jobs``: claim, lease, retry with backoff), with the handlers this module registers
for the message kinds. Sending is at least once: a receiver de-duplicates on the delivery id.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import httpx

from cloud_broker.notify.cards import card_for, required_approvals, resolution_text
from cloud_broker.notify.page_limit import SLACK_SUMMARY_KINDS, PageLimit
from cloud_broker.notify.pager import SlackApi
from cloud_broker.notify.webhook import (
    AGENT_CALLBACK,
    PAGE_BATCHED,
    PENDING,
    SIGNED_KINDS,
    SLACK_PAGE,
    SLACK_UPDATE,
    WEBHOOK_RESOLUTION,
    DeliveryAttempt,
    SignedSender,
    after_attempt,
    given_up,
)
from cloud_broker.service.deps import Deps
from cloud_broker.service.feed import GrantEvent, GrantFeed
from cloud_broker.service.jobs import JobRunner
from cloud_broker.service.ports import Delivery, UnitOfWork

log = logging.getLogger(__name__)

CURSOR = "dispatcher"
# Events older than this are not pushed: after a long outage (or on a database that predates
# the dispatcher) a flood of stale "approved" messages would mislead more than it informs.
HORIZON = timedelta(hours=24)
MAX_BATCHES = 20
PARTIAL_APPROVAL = "grant.approval_recorded"
NO_SLACK = "Slack is not configured in this process (no bot token)"


class _CursorMoved(Exception):
    """Another process took this batch first; its rows stand, ours are rolled back."""


class Dispatcher:
    """Run by the server in a background thread; ``run_once`` is the unit tests drive.

    ``runner`` is the process's job runner (the broker's, so one loop runs mints, revocations
    and messages alike); the dispatcher registers its message kinds with it.
    """

    def __init__(self, deps: Deps, *, slack: SlackApi | None = None, secrets: Mapping[str, str] | None = None,
                 transport: httpx.BaseTransport | None = None, timeout: float = 5.0,
                 cursor: str = CURSOR, horizon: timedelta = HORIZON, runner: JobRunner | None = None) -> None:
        self._deps = deps
        self._slack = slack
        self._sender = SignedSender(deps, secrets or {}, timeout=timeout, transport=transport)
        self._limit = PageLimit(deps, slack, self._sender)
        self._feed = GrantFeed(deps)
        self._cursor = cursor
        self._horizon = horizon
        self._runner = runner or JobRunner(deps)
        self._runner.register(SIGNED_KINDS, _Signed(self._sender))
        self._runner.register((SLACK_UPDATE,), _SlackUpdates(deps, slack))
        self._runner.register(SLACK_SUMMARY_KINDS, _Summaries(self._limit, slack))

    def run_once(self) -> int:
        """Enqueue what new events call for, then attempt what is due; returns the attempts made."""
        self.enqueue_new_events()
        return self.send_due()

    def run_forever(self, stop: threading.Event, interval: float = 0.5) -> None:
        while not stop.is_set():
            try:
                self.run_once()
            except Exception as exc:  # noqa: BLE001 - a bad round must not end the thread
                log.error("dispatcher round failed: %s", type(exc).__name__)
            stop.wait(interval)

    def enqueue_new_events(self) -> int:
        """Rows for every event after the cursor; returns how many were new."""
        added = 0
        for _ in range(MAX_BATCHES):
            with self._deps.store.unit_of_work() as uow:
                cursor = uow.read_cursor(self._cursor)
            events, position = self._feed.after(cursor or 0)
            if position == (cursor or 0):
                break
            try:
                added += self._enqueue_batch(events, cursor, position)
            except _CursorMoved:
                continue
        return added

    def send_due(self) -> int:
        """Attempt every due job this process wins; returns the attempts made."""
        return self._runner.run_due()

    def _enqueue_batch(self, events: list[GrantEvent], cursor: int | None, position: int) -> int:
        added = 0
        with self._deps.store.unit_of_work() as uow:
            for event in events:
                for row in self._rows_for(uow, event):
                    added += uow.insert_delivery(row) is not None
            if not uow.move_cursor(self._cursor, cursor, position):
                raise _CursorMoved
        return added

    def _rows_for(self, uow: UnitOfWork, event: GrantEvent) -> list[Delivery]:
        now = self._deps.clock()
        if not (event.resolves or event.event == PARTIAL_APPROVAL):
            return []
        grant = event.grant
        outside = event.resolves and _tells_outside(event)
        # Only a grant routed to approvers was ever paged (``AgentAccess._file_for_approval``):
        # an auto-approved one, most of a busy broker's, needs no look for its card.
        page = self._slack_page(uow, grant.grant_id) if event.waited_for_approval else None
        if page is None and not outside:
            return []
        if event.at < now - self._horizon:
            log.info("not pushing event %s of grant %s: older than %s", event.seq, grant.grant_id, self._horizon)
            return []
        required = required_approvals(self._deps, grant)
        text = resolution_text(grant, event.status, required)
        rows = [_row(event, SLACK_UPDATE, page.target, {"channel_id": page.target, "ts": page.external_ref,
                                                        "event": event.event, "resolution": text}, now)] if page else []
        if outside:
            batched = bool(uow.list_deliveries(grant_id=grant.grant_id, kinds=(PAGE_BATCHED,)))
            rows += self._outside_rows(event, required, text, now, tell_approvers=not batched)
        return rows

    def _outside_rows(self, event: GrantEvent, required: int, text: str, now: datetime, *,
                      tell_approvers: bool) -> list[Delivery]:
        """The resolution webhooks (only for grants approvers were paged for one by one: a
        batched one was never announced on its own, and announcing its end would let an agent
        that files and withdraws in a loop page approvers without end) and the agent callback."""
        grant = event.grant
        channel = self._deps.config.approval_channel(grant.family, grant.team, grant.target)
        card = card_for(self._deps, grant, required_approvals=required, resolution=text).to_json()
        body = event.to_json()
        hooks = channel.webhooks if channel and tell_approvers else ()
        rows = [_row(event, WEBHOOK_RESOLUTION, name, {"type": "grant_resolved", "event": body, "grant": card}, now)
                for name in hooks]
        agent = self._deps.config.agent(grant.agent_id)
        if agent is not None and agent.callback is not None:
            rows.append(_row(event, AGENT_CALLBACK, agent.id, body, now))
        return rows

    @staticmethod
    def _slack_page(uow: UnitOfWork, grant_id: str) -> Delivery | None:
        """The grant's Slack card, if one was posted: only a posted card can be updated. The latest,
        should a repeated request have posted again after a failed first post."""
        posted = [d for d in uow.list_deliveries(grant_id=grant_id) if d.kind == SLACK_PAGE and d.external_ref]
        return posted[-1] if posted else None



class _Signed:
    """Webhooks and agent callbacks, signed at send time."""

    def __init__(self, sender: SignedSender) -> None:
        self._sender = sender

    def attempt(self, job: Delivery) -> Delivery:
        return self._sender.send(job)

    def defer(self, job: Delivery, now: datetime) -> bool:
        return self._sender.lacks_secret(job)


class _Summaries:
    """The page windows' summary messages (``notify.page_limit``)."""

    def __init__(self, limit: PageLimit, slack: SlackApi | None) -> None:
        self._limit, self._slack = limit, slack

    def attempt(self, job: Delivery) -> Delivery:
        return self._limit.send(job)

    def defer(self, job: Delivery, now: datetime) -> bool:
        return self._slack is None


class _SlackUpdates:
    """Approval cards brought up to date, rendered from the grant as it is now so that a late
    retry never shows a stale state."""

    def __init__(self, deps: Deps, slack: SlackApi | None) -> None:
        self._deps, self._slack = deps, slack

    def defer(self, job: Delivery, now: datetime) -> bool:
        return self._slack is None

    def attempt(self, row: Delivery) -> Delivery:
        with self._deps.store.unit_of_work() as uow:
            grant = uow.find_grant(row.grant_id or "")
        now = self._deps.clock()
        if grant is None:
            updated = given_up(row, "the grant is gone", now)
        elif self._slack is None:
            # Retried, not given up: the server process, which holds the bot token, may send it.
            updated = after_attempt(row, DeliveryAttempt(False, None, NO_SLACK), now)
        else:
            required = required_approvals(self._deps, grant)
            text = resolution_text(grant, grant.status_at(now), required)
            card = card_for(self._deps, grant, required_approvals=required, resolution=text)
            error = self._slack.update_approval_message(row.payload["channel_id"], row.payload["ts"], card)
            updated = after_attempt(row, DeliveryAttempt(error is None, None, error), self._deps.clock())
        if updated.status != "delivered":
            log.warning("Slack update #%s of grant %s: %s (%s)", row.id, row.grant_id, updated.status,
                        updated.last_error)
        return updated


def _tells_outside(event: GrantEvent) -> bool:
    """Webhooks and the agent hear of grants someone waited on, and of an approver's revocation."""
    return event.waited_for_approval or (event.event == "grant.revoked" and event.actor.startswith("approver:"))


def _row(event: GrantEvent, kind: str, target: str, payload: dict[str, Any], now: datetime) -> Delivery:
    return Delivery(event.grant.grant_id, event.seq, kind, target, PENDING, 0, payload, now, now, next_attempt_at=now)
