"""At most ``broker.max_pages_per_window`` individual pages per ceiling and window; beyond, one summary.

An agent that files request after request, each a byte apart, must not become a card per
request in front of people. Its grants are still filed ``pending`` and listed in the console;
only the paging collapses: the first requests of a window on one ceiling (family, team, target) are
paged one by one, the rest are counted into one summary per window, a Slack message that is
updated as the count grows and one event per webhook.

Windows are fixed and aligned on the epoch, so every broker process on the store agrees which
window "now" is without talking to the others; a burst across a boundary can get twice the
limit, never more. The count lives in the delivery log, not in memory: a grant paged on its
own gets a ``page_slot`` row, one beyond the limit a ``page_batched`` row, both keyed by the
window (``batch_key``), and the count and the row are written in one unit of work, which the
SQLite store serialises (``BEGIN IMMEDIATE``): requests racing for the last page cannot both
take it. On PostgreSQL that unit of work would first need a lock per ceiling (an advisory lock
on a hash of the window's key).

Summary rows are deliveries like any other: the request that overflows first makes the first
attempt while the agent waits, the dispatcher retries under its usual claim and lease, and
every post or update renders the count as it is at send time, never a count from the queue.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from cloud_broker.domain.grants import Grant
from cloud_broker.notify.cards import BatchSummary
from cloud_broker.notify.page_report import batched_report_from
from cloud_broker.notify.webhook import (
    FAILED,
    LEASE,
    PAGE_BATCHED,
    PAGE_SLOT,
    PENDING,
    RECORDED,
    SLACK_SUMMARY,
    SLACK_SUMMARY_UPDATE,
    WEBHOOK_SUMMARY,
    DeliveryAttempt,
    SignedSender,
    after_attempt,
    given_up,
    save,
)
from cloud_broker.service.deps import Deps
from cloud_broker.service.family import target_of
from cloud_broker.service.ports import Delivery, PageReport, UnitOfWork

if TYPE_CHECKING:
    from cloud_broker.config import ApprovalChannel
    from cloud_broker.notify.pager import SlackApi

log = logging.getLogger(__name__)

NO_SLACK = "Slack is not configured in this process (no bot token)"
SUMMARY_KINDS = (SLACK_SUMMARY, WEBHOOK_SUMMARY)
SLACK_SUMMARY_KINDS = (SLACK_SUMMARY, SLACK_SUMMARY_UPDATE)
# Summary rows of one window: the Slack message, its queued updates and the webhook events.
_WINDOW_ROWS = (SLACK_SUMMARY, SLACK_SUMMARY_UPDATE, WEBHOOK_SUMMARY)
_WINDOW_ROWS_READ = 1000


@dataclass(frozen=True)
class PageWindow:
    """One ceiling's page window: (family, team, target) and its time."""

    family: str
    team: str
    target: str
    start: datetime
    end: datetime

    @classmethod
    def at(cls, grant: Grant, now: datetime, length: timedelta) -> PageWindow:
        seconds = int(length.total_seconds())
        start = datetime.fromtimestamp(int(now.timestamp()) // seconds * seconds, UTC)
        return cls(grant.family, grant.team, grant.target, start, start + length)

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> PageWindow:
        # Rows written before families existed name an AWS account.
        return cls(value.get("family", "aws"), value["team"], value.get("target") or value["account_id"],
                   datetime.fromisoformat(value["start"]), datetime.fromisoformat(value["end"]))

    @property
    def key(self) -> str:
        return f"{self.family}/{self.team}/{self.target}/{self.start:%Y-%m-%dT%H:%M:%SZ}"

    def to_json(self) -> dict[str, Any]:
        return {"family": self.family, "team": self.team, "target": self.target, "start": self.start.isoformat(),
                "end": self.end.isoformat()}


class PageLimit:
    """Decides whether a grant is paged on its own, and sends the summaries of those that are not.

    Used by the pager (admission and first attempts, while the agent waits) and by the
    dispatcher (retries of summary messages and their updates).
    """

    def __init__(self, deps: Deps, slack: SlackApi | None, sender: SignedSender) -> None:
        self._deps = deps
        self._slack = slack
        self._sender = sender

    def admit(self, grant: Grant, event_seq: int, channel: ApprovalChannel) -> str | None:
        """None when ``grant`` took one of its window's individual pages (the caller pages it);
        otherwise the window's key: the grant was counted into the window's summary, and the
        summary was posted, queued for an update, or found already sent."""
        settings = self._deps.config.broker
        now = self._deps.clock()
        window = PageWindow.at(grant, now, settings.page_window)
        with self._deps.store.unit_of_work() as uow:
            taken = uow.count_deliveries(batch_key=window.key, kind=PAGE_SLOT)
            individual = taken < settings.max_pages_per_window
            uow.insert_delivery(_marker(grant, event_seq, window, individual, now))
            fresh = [] if individual else self._queue_summary(uow, window, channel, grant, event_seq, now)
        if individual:
            return None
        log.info("grant %s counted into the page summary of %s (%d pages already sent)", grant.grant_id,
                 window.key, taken)
        for row in fresh:
            if row.kind == WEBHOOK_SUMMARY:
                self._sender.send(row)
            else:
                self.send(row)
        return window.key

    def report(self, batch_key: str | None) -> PageReport:
        """The ``notification_*`` fields of a grant counted into the summary of ``batch_key``."""
        with self._deps.store.reading() as uow:
            rows = uow.list_deliveries(batch_key=batch_key, kinds=SUMMARY_KINDS) if batch_key else []
        return batched_report_from(rows)

    def send(self, row: Delivery) -> Delivery:
        """Post a summary message, or update one with its count; store and return the outcome.
        Never raises for Slack trouble: failures are attempts, retried with the usual backoff."""
        window = PageWindow.from_json(row.payload["window"])
        updated = self._update(row, window) if row.kind == SLACK_SUMMARY_UPDATE else self._post(row, window)
        save(self._deps, updated)
        if updated.status != "delivered":
            log.warning("%s #%s of %s: %s (%s)", row.kind, row.id, window.key, updated.status, updated.last_error)
        return updated

    def _queue_summary(self, uow: UnitOfWork, window: PageWindow, channel: ApprovalChannel, grant: Grant,
                       event_seq: int, now: datetime) -> list[Delivery]:
        """Rows for the summary, in the unit of work that counted the grant in: the message and
        webhook events on the window's first overflow (returned, for a first attempt now), an
        update of the message afterwards (left to the dispatcher)."""
        existing = uow.list_deliveries(batch_key=window.key, kinds=_WINDOW_ROWS, limit=_WINDOW_ROWS_READ)
        body = {"window": window.to_json()}
        fresh: list[Delivery] = []
        if channel.slack_channel and not any(r.kind == SLACK_SUMMARY for r in existing):
            # Leased: the dispatcher leaves it alone while this request makes the first attempt.
            fresh.append(_row(SLACK_SUMMARY, channel.slack_channel, body, event_seq, window, now, now + LEASE))
        elif channel.slack_channel and not _update_queued(existing, now):
            # One queued update is enough: it renders the count when it is sent. A claimed one may
            # have counted already, so this grant gets its own.
            _insert(uow, _row(SLACK_SUMMARY_UPDATE, channel.slack_channel, body, event_seq, window, now, now))
        sent_to = {r.target for r in existing if r.kind == WEBHOOK_SUMMARY}
        hooks = [name for name in channel.webhooks if name not in sent_to]
        if hooks:
            # Sent once per window, so it says what is known now; the console has the rest.
            event = {"type": "approval_requests_batched", "first_grant_id": grant.grant_id,
                     **self._summary(uow, window).to_json()}
            fresh += [_row(WEBHOOK_SUMMARY, name, event, event_seq, window, now, now + LEASE) for name in hooks]
        inserted = [_insert(uow, row) for row in fresh]
        return [row for row in inserted if row.id is not None]

    def _post(self, row: Delivery, window: PageWindow) -> Delivery:
        if self._slack is None:
            # Retried, not given up: the server process, which holds the bot token, may send it.
            info = {**row.payload, "failure_reason": "agent_slack_not_configured"}
            return after_attempt(replace(row, payload=info), DeliveryAttempt(False, None, NO_SLACK),
                                 self._deps.clock())
        post = self._slack.post_summary(row.target, self._current(window))
        info = {**row.payload, "channel_name": post.channel_name, "bot_user_handle": post.bot_user_handle}
        info.pop("failure_reason", None)
        if not post.ok:
            info["failure_reason"] = post.error or "unknown"
            return after_attempt(replace(row, payload=info), DeliveryAttempt(False, None, post.raw_error or post.error),
                                 self._deps.clock())
        # The channel Slack posted in (a DM's, for a user id): chat.update needs that one.
        posted = replace(row, payload=info, target=post.channel_id or row.target, external_ref=post.ts,
                         permalink=post.permalink)
        return after_attempt(posted, DeliveryAttempt(True), self._deps.clock())

    def _update(self, row: Delivery, window: PageWindow) -> Delivery:
        with self._deps.store.unit_of_work() as uow:
            found = uow.list_deliveries(batch_key=row.batch_key, kinds=(SLACK_SUMMARY,), limit=1)
        now = self._deps.clock()
        message = found[0] if found else None
        if message is None or (message.external_ref is None and message.status == FAILED):
            return given_up(row, "the summary message was never posted", now)
        if message.external_ref is None:
            # Its post is still being tried and will show the count then; this waits its turn.
            return after_attempt(row, DeliveryAttempt(False, None, "the summary message is not posted yet"), now)
        if self._slack is None:
            return after_attempt(row, DeliveryAttempt(False, None, NO_SLACK), now)
        error = self._slack.update_summary(message.target, message.external_ref, self._current(window))
        return after_attempt(row, DeliveryAttempt(error is None, None, error), self._deps.clock())

    def _current(self, window: PageWindow) -> BatchSummary:
        with self._deps.store.unit_of_work() as uow:
            return self._summary(uow, window)

    def _summary(self, uow: UnitOfWork, window: PageWindow) -> BatchSummary:
        config = self._deps.config
        base = config.broker.public_url
        return BatchSummary(
            team=window.team, target=target_of(self._deps, window.family, window.target),
            count=uow.count_deliveries(batch_key=window.key, kind=PAGE_BATCHED),
            window_start=window.start, window_end=window.end, page_limit=config.broker.max_pages_per_window,
            console_url=f"{base.rstrip('/')}/console/" if base else None,
        )


def _marker(grant: Grant, event_seq: int, window: PageWindow, individual: bool, now: datetime) -> Delivery:
    """The page limit's record of how ``grant`` was paged. A slot is the window's, naming the
    grant it went to (the grant's own rows stay its card and webhook calls); a grant counted
    into the summary keeps that fact among its rows, naming the window, which is how a repeat
    of it is answered and what its page in the console shows."""
    if individual:
        return Delivery(None, event_seq, PAGE_SLOT, grant.grant_id, RECORDED, 0, {"window": window.to_json()},
                        now, now, batch_key=window.key)
    return Delivery(grant.grant_id, event_seq, PAGE_BATCHED, window.key, RECORDED, 0, {"window": window.to_json()},
                    now, now, batch_key=window.key)


def _update_queued(rows: list[Delivery], now: datetime) -> bool:
    """An update waiting for the dispatcher and not yet claimed (a claim moves it into the future)."""
    return any(r.kind == SLACK_SUMMARY_UPDATE and r.status == PENDING and r.next_attempt_at is not None
               and r.next_attempt_at <= now for r in rows)


def _row(kind: str, target: str, payload: dict[str, Any], event_seq: int, window: PageWindow, now: datetime,
         next_attempt_at: datetime) -> Delivery:
    """A summary row: of the window, not of a grant; caused by the event that overflowed."""
    return Delivery(None, event_seq, kind, target, PENDING, 0, payload, now, now, next_attempt_at=next_attempt_at,
                    batch_key=window.key)


def _insert(uow: UnitOfWork, row: Delivery) -> Delivery:
    return replace(row, id=uow.insert_delivery(row))
