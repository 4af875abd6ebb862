"""Pushing outcomes: from the grant event feed to delivery rows, and from rows to receivers.

Two steps, each safe to repeat. First the feed is read from a persisted cursor and every
event that someone waits on becomes delivery rows; the rows are unique per (event, kind,
target) and the cursor moves in the same transaction, so a restart or a second broker
process never enqueues twice. Then due rows are sent, and failures are retried with
exponential backoff. Several processes (``serve`` and each ``mcp --config``) dispatch from one
store, so a due row is claimed by a compare-and-swap before it is sent: one process sends it,
the others skip it. Sending is at least once: a receiver de-duplicates on the delivery id.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import httpx

from cloud_broker.notify.cards import card_for, required_approvals, resolution_text
from cloud_broker.notify.page_limit import SLACK_SUMMARY_KINDS, PageLimit
from cloud_broker.notify.pager import SlackApi
from cloud_broker.notify.webhook import (
    AGENT_CALLBACK,
    LEASE,
    PENDING,
    SIGNED_KINDS,
    SLACK_PAGE,
    SLACK_UPDATE,
    WEBHOOK_RESOLUTION,
    DeliveryAttempt,
    SignedSender,
    after_attempt,
    given_up,
    save,
)
from cloud_broker.service.deps import Deps
from cloud_broker.service.feed import GrantEvent, GrantFeed
from cloud_broker.service.ports import Delivery, UnitOfWork

log = logging.getLogger(__name__)

CURSOR = "dispatcher"
# Events older than this are not pushed: after a long outage (or on a database that predates
# the dispatcher) a flood of stale "approved" messages would mislead more than it informs.
HORIZON = timedelta(hours=24)
MAX_BATCHES = 20
PARTIAL_APPROVAL = "grant.approval_recorded"
# A process that lacks what a row needs (a webhook secret, the Slack bot) leaves the row this
# long after it fell due to a process that has it; only then does it record a failed attempt.
HANDOFF = timedelta(seconds=10)
NO_SLACK = "Slack is not configured in this process (no bot token)"


class _CursorMoved(Exception):
    """Another process took this batch first; its rows stand, ours are rolled back."""


class Dispatcher:
    """Run by the server in a background thread; ``run_once`` is the unit tests drive."""

    def __init__(self, deps: Deps, *, slack: SlackApi | None = None, secrets: Mapping[str, str] | None = None,
                 transport: httpx.BaseTransport | None = None, timeout: float = 5.0,
                 cursor: str = CURSOR, horizon: timedelta = HORIZON) -> None:
        self._deps = deps
        self._slack = slack
        self._sender = SignedSender(deps, secrets or {}, timeout=timeout, transport=transport)
        self._limit = PageLimit(deps, slack, self._sender)
        self._feed = GrantFeed(deps)
        self._cursor = cursor
        self._horizon = horizon

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
        """Attempt every row whose time has come and that this process wins; returns the attempts made."""
        now = self._deps.clock()
        with self._deps.store.unit_of_work() as uow:
            due = uow.due_deliveries(now)
        attempts = 0
        for row in due:
            if self._leave_to_others(row, now):
                continue
            claimed = self._claim(row, now)
            if claimed is None:
                continue
            sent = self._send(claimed)
            attempts += sent.attempts - claimed.attempts
        return attempts

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
        page = self._slack_page(uow, grant.grant_id)
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
            rows += self._outside_rows(event, required, text, now)
        return rows

    def _outside_rows(self, event: GrantEvent, required: int, text: str, now: datetime) -> list[Delivery]:
        grant = event.grant
        channel = self._deps.config.approval_channel(grant.team, grant.account_id)
        card = card_for(self._deps, grant, required_approvals=required, resolution=text).to_json()
        body = event.to_json()
        rows = [_row(event, WEBHOOK_RESOLUTION, name, {"type": "grant_resolved", "event": body, "grant": card}, now)
                for name in (channel.webhooks if channel else ())]
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

    def _leave_to_others(self, row: Delivery, now: datetime) -> bool:
        """Whether to give another process (one holding the secret or the bot) first go at ``row``."""
        if row.next_attempt_at is None or now - row.next_attempt_at >= HANDOFF:
            return False
        if row.kind in SIGNED_KINDS:
            return self._sender.lacks_secret(row)
        return row.kind in (SLACK_UPDATE, *SLACK_SUMMARY_KINDS) and self._slack is None

    def _claim(self, row: Delivery, now: datetime) -> Delivery | None:
        """The row as stored once this process holds its lease, or None when another process
        claimed or settled it first. Results are written from this copy only, never from the
        due list read earlier, so a stale snapshot cannot overwrite a settled row."""
        if row.id is None or row.next_attempt_at is None:
            return None
        lease_until = now + LEASE
        with self._deps.store.unit_of_work() as uow:
            if not uow.claim_delivery(row.id, row.next_attempt_at, lease_until):
                return None
            stored = uow.find_delivery(row.id)
        # Found, having just been claimed; else the claim matched what we read, so our copy is current.
        return stored or replace(row, next_attempt_at=lease_until)

    def _send(self, row: Delivery) -> Delivery:
        """Attempt a claimed row and store the outcome; never raises."""
        try:
            if row.kind in SIGNED_KINDS:
                return self._sender.send(row)
            if row.kind == SLACK_UPDATE:
                return self._send_slack_update(row)
            if row.kind in SLACK_SUMMARY_KINDS:
                return self._limit.send(row)
            updated = given_up(row, f"unknown delivery kind {row.kind}", self._deps.clock())
        except Exception as exc:  # noqa: BLE001 - one broken row must not stop the others
            updated = after_attempt(row, DeliveryAttempt(False, None, f"internal error: {type(exc).__name__}"),
                                    self._deps.clock())
        save(self._deps, updated)
        return updated

    def _send_slack_update(self, row: Delivery) -> Delivery:
        """Rendered from the grant as it is now, so a late retry never shows a stale state."""
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
        save(self._deps, updated)
        if updated.status != "delivered":
            log.warning("Slack update #%s of grant %s: %s (%s)", row.id, row.grant_id, updated.status,
                        updated.last_error)
        return updated


def _tells_outside(event: GrantEvent) -> bool:
    """Webhooks and the agent hear of grants someone waited on, and of an approver's revocation."""
    return event.waited_for_approval or (event.event == "grant.revoked" and event.actor.startswith("approver:"))


def _row(event: GrantEvent, kind: str, target: str, payload: dict[str, Any], now: datetime) -> Delivery:
    return Delivery(event.grant.grant_id, event.seq, kind, target, PENDING, 0, payload, now, now, next_attempt_at=now)
