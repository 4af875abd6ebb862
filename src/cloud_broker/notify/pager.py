"""Paging approvers while the agent waits for its reply, and reporting truthfully how it went.

The agent quotes the ``notification_*`` fields to its user ("I asked in #cloud-approvals"),
so the report must say what really happened: the Slack post is made synchronously and its
outcome reported as is; a webhook gets one quick attempt now and is retried by the
dispatcher, but the report only says ``sent`` once a receiver accepted it. Every page is a
delivery row, which gives operators a log and makes paging idempotent per grant: a channel
whose latest page was delivered (or is still being retried) is not paged again, while one
whose latest page failed outright is paged again when the agent repeats the request, since the
cause (the bot not invited, say) may have been fixed in between (at most once per grant per
``service.access.REPEAT_WINDOW``: repeats inside it are told the standing pages). Beyond the ceiling's page limit
a new grant is not paged on its own but counted into one summary per window
(``notify.page_limit``); the report then describes the summary and says ``batched``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from typing import Any, Protocol

import httpx

from cloud_broker.domain.grants import Grant, GrantStatus
from cloud_broker.notify.cards import (
    ApprovalCard,
    BatchSummary,
    card_for,
    required_approvals,
    resolution_text,
)
from cloud_broker.notify.page_limit import PageLimit
from cloud_broker.notify.page_report import latest_hooks, latest_slack, paged, report_from
from cloud_broker.notify.webhook import (
    DELIVERED,
    FAILED,
    LEASE,
    PAGE_BATCHED,
    PENDING,
    SLACK_PAGE,
    SLACK_UPDATE,
    WEBHOOK_PAGE,
    SignedSender,
)
from cloud_broker.service import leases
from cloud_broker.service.deps import Deps
from cloud_broker.service.ports import NOT_CONFIGURED, Delivery, PageReport

__all__ = ["BrokerPager", "SlackApi", "SlackPostResult", "report_from"]

log = logging.getLogger(__name__)

FIRST_ATTEMPT_TIMEOUT = 2.0
LOCK_STRIPES = 64
# A grant is paged by one broker process at a time: it holds this claim in the store while it
# posts (a Slack post and each webhook's first attempt are bounded by FIRST_ATTEMPT_TIMEOUT).
# A process that dies holding it delays the grant's next page by at most this long.
PAGE_CLAIM = timedelta(seconds=30)
CLAIM_POLL_SECONDS = 0.05
# A grant's own page rows, and the page limit's record that it was counted into a summary.
PAGE_KINDS = (SLACK_PAGE, WEBHOOK_PAGE, PAGE_BATCHED)


class SlackPostResult(Protocol):
    """What a Slack post reports (``notify.slack.SlackPost``)."""

    @property
    def ok(self) -> bool: ...
    @property
    def channel_id(self) -> str: ...
    @property
    def channel_name(self) -> str | None: ...
    @property
    def ts(self) -> str | None: ...
    @property
    def permalink(self) -> str | None: ...
    @property
    def error(self) -> str | None: ...
    @property
    def raw_error(self) -> str | None: ...
    @property
    def bot_user_handle(self) -> str | None: ...


class SlackApi(Protocol):
    """The part of ``notify.slack.SlackNotifier`` paging needs; none of these raise."""

    def channel_status(self, channel_id: str) -> dict[str, Any]: ...

    def post_approval_request(self, channel_id: str, card: ApprovalCard) -> SlackPostResult: ...

    def update_approval_message(self, channel_id: str, ts: str, card: ApprovalCard) -> str | None: ...

    def post_summary(self, channel_id: str, summary: BatchSummary) -> SlackPostResult: ...

    def update_summary(self, channel_id: str, ts: str, summary: BatchSummary) -> str | None: ...


class BrokerPager:
    """The ``Pager`` of a broker with Slack and/or webhooks.

    ``deps`` may be the broker's deps before ``pager=`` is set (``Deps`` is frozen and holds the
    pager); only config, store, clock and families are used. ``secrets`` maps the ``secret_env``
    names of the config to their values.
    """

    def __init__(self, deps: Deps, *, slack: SlackApi | None = None, secrets: Mapping[str, str] | None = None,
                 transport: httpx.BaseTransport | None = None,
                 first_attempt_timeout: float = FIRST_ATTEMPT_TIMEOUT) -> None:
        self._deps = deps
        self._slack = slack
        self._sender = SignedSender(deps, secrets or {}, timeout=first_attempt_timeout, transport=transport)
        self._limit = PageLimit(deps, slack, self._sender)
        # Two requests of one grant racing in this process wait here rather than poll the store's
        # claim; striped so that pages of different grants do not wait on each other.
        self._locks = tuple(threading.Lock() for _ in range(LOCK_STRIPES))

    def page(self, grant: Grant, event_seq: int, *, repost: bool = True) -> PageReport:
        """Page every channel not yet paged (see the module docstring); a repeat reports the
        standing pages. A grant's first page is subject to the ceiling's page limit: beyond it,
        the grant is counted into the window's summary instead (``notify.page_limit``), and this
        and every repeat report the summary. With ``repost`` false nothing is posted. Never raises."""
        channel = self._deps.config.approval_channel(grant.family, grant.team, grant.target)
        if channel is None or not (channel.slack_channel or channel.webhooks):
            return NOT_CONFIGURED
        if not repost:
            return self._standing(grant.grant_id, channel.slack_channel)
        try:
            with self._locks[hash(grant.grant_id) % LOCK_STRIPES], self._claim(grant.grant_id):
                rows = self._page_rows(grant.grant_id)
                batched = next((r for r in rows if r.kind == PAGE_BATCHED), None)
                if batched is not None:
                    return self._limit.report(batched.batch_key)
                slack = channel.slack_channel if channel.slack_channel and not paged(latest_slack(rows)) else None
                hooks_now = latest_hooks(rows)
                hooks = [name for name in channel.webhooks if not paged(hooks_now.get(name))]
                if slack or hooks:
                    # Only a grant never paged takes a page of the limit: a repeat re-paging a
                    # failed post (and a grant paged before the limit existed) does not.
                    summary = self._limit.admit(grant, event_seq, channel) if not rows else None
                    if summary is not None:
                        return self._limit.report(summary)
                    rows += self._page_now(grant, event_seq, slack, hooks)
            return report_from(rows)
        except Exception as exc:  # noqa: BLE001 - the request is filed; paging trouble is only reported
            log.error("paging grant %s failed: %s", grant.grant_id, type(exc).__name__)
            return PageReport(status="failed", failure_reason="unknown", channel_id=channel.slack_channel)

    @contextmanager
    def _claim(self, grant_id: str) -> Iterator[None]:
        """Hold the store's claim on paging ``grant_id``, so that two broker processes serving
        repeats of one request page it once: the second waits for the first, then reads its rows
        and reports them. Waits at most one claim's length (the holder may have died)."""
        name, deadline = f"page:{grant_id}", time.monotonic() + PAGE_CLAIM.total_seconds()
        token = leases.acquire(self._deps.store, name, self._deps.clock(), PAGE_CLAIM)
        while token is None and time.monotonic() < deadline:
            time.sleep(CLAIM_POLL_SECONDS)
            token = leases.acquire(self._deps.store, name, self._deps.clock(), PAGE_CLAIM)
        if token is None:
            raise TimeoutError(f"another broker process holds the claim to page grant {grant_id}")
        try:
            yield
        finally:
            leases.release(self._deps.store, name, token)

    def channel_status(self, family: str, team: str, target: str) -> dict[str, Any]:
        """The contract's approval-channel pre-check, for the agent's team and target."""
        channel = self._deps.config.approval_channel(family, team, target)
        if channel is None or not (channel.slack_channel or channel.webhooks):
            return {"ok": False, "reason": "no_approval_channel_configured"}
        if channel.slack_channel:
            if self._slack is None:
                return {"ok": False, "reason": "agent_slack_not_configured"}
            try:
                return self._slack.channel_status(channel.slack_channel)
            except Exception as exc:  # noqa: BLE001 - the pre-check answers, it does not fail
                return {"ok": False, "reason": "unknown", "raw_error": type(exc).__name__}
        return self._webhook_status(channel.webhooks)

    def _webhook_status(self, names: tuple[str, ...]) -> dict[str, Any]:
        problems = []
        for name in names:
            probe = Delivery(None, 0, WEBHOOK_PAGE, name, PENDING, 0, {}, self._deps.clock(), self._deps.clock())
            problem = self._sender.unusable(probe)
            if problem is None:
                return {"ok": True, "channel": {"id": f"webhook:{name}", "name": name, "kind": "webhook"}}
            problems.append(problem)
        return {"ok": False, "reason": "unknown", "raw_error": "; ".join(problems)}

    def _standing(self, grant_id: str, slack_channel: str | None) -> PageReport:
        """The pages as they stand, read without a claim or a write lock: what a repeat inside
        the repeat window is told (no rows: the first page failed before writing one, as it said)."""
        try:
            rows = self._page_rows(grant_id, reading=True)
            batched = next((r for r in rows if r.kind == PAGE_BATCHED), None)
            if batched is not None:
                return self._limit.report(batched.batch_key)
        except Exception as exc:  # noqa: BLE001 - the request is answered; the report says it is unknown
            log.error("reading the pages of grant %s failed: %s", grant_id, type(exc).__name__)
            rows = []
        return report_from(rows) if rows else PageReport(status="failed", failure_reason="unknown",
                                                         channel_id=slack_channel)

    def _page_rows(self, grant_id: str, *, reading: bool = False) -> list[Delivery]:
        with self._deps.store.reading() if reading else self._deps.store.unit_of_work() as uow:
            return [d for d in uow.list_deliveries(grant_id=grant_id) if d.kind in PAGE_KINDS]

    def _page_now(self, grant: Grant, event_seq: int, slack_channel: str | None,
                  webhooks: list[str]) -> list[Delivery]:
        card = card_for(self._deps, grant, required_approvals=required_approvals(self._deps, grant))
        rows = [self._post_slack(grant, event_seq, slack_channel, card)] if slack_channel else []
        rows += [self._post_webhook(grant, event_seq, name, card) for name in webhooks]
        return rows

    def _post_slack(self, grant: Grant, event_seq: int, channel_id: str, card: ApprovalCard) -> Delivery:
        """Posted before the row is written: the row records what Slack said, and a process that
        dies in between costs a missing log line, never a second card for this request (a failed
        post is posted again only when the agent repeats the request, under its new event)."""
        now = self._deps.clock()
        payload: dict[str, Any] = {"card": card.to_json()}
        if self._slack is None:
            post_error: str | None = "agent_slack_not_configured"
            row = Delivery(grant.grant_id, event_seq, SLACK_PAGE, channel_id, FAILED, 0,
                           {**payload, "failure_reason": post_error}, now, now,
                           last_error="Slack is not configured (no bot token)")
            return self._insert(row)[0]
        post = self._slack.post_approval_request(channel_id, card)
        payload.update(channel_name=post.channel_name, bot_user_handle=post.bot_user_handle)
        if not post.ok:
            payload["failure_reason"] = post.error or "unknown"
        # The channel Slack posted in, not the configured id: for a user id that is the DM
        # channel, and chat.update needs the real one.
        target = (post.channel_id or channel_id) if post.ok else channel_id
        row = Delivery(grant.grant_id, event_seq, SLACK_PAGE, target, DELIVERED if post.ok else FAILED, 1,
                       payload, now, self._deps.clock(), last_error=None if post.ok else (post.raw_error or post.error),
                       external_ref=post.ts, permalink=post.permalink)
        if post.ok:
            log.info("paged grant %s in Slack channel %s", grant.grant_id, target)
        else:
            log.warning("Slack page of grant %s in %s failed: %s", grant.grant_id, channel_id, row.last_error)
        stored, fresh = self._insert(row)
        if post.ok and fresh:
            self._catch_up(stored, card)
        return stored

    def _catch_up(self, page: Delivery, card: ApprovalCard) -> None:
        """Queue an update of the card just posted if the grant moved while it was being posted.

        The buttons work as soon as Slack shows the card, but the dispatcher only updates cards
        it finds a row for; a click it processed before this row existed would leave the card
        showing buttons for a settled grant. Keyed on the page's event, so repeating this adds
        nothing; an update the dispatcher also queued is harmless (both render the grant as is).
        """
        try:
            with self._deps.store.unit_of_work() as uow:
                grant = uow.find_grant(page.grant_id or "")
            if grant is None or page.external_ref is None:
                return
            now = self._deps.clock()
            status = grant.status_at(now)
            if status is GrantStatus.PENDING and set(grant.approvals) <= set(card.approvals):
                return
            text = resolution_text(grant, status, required_approvals(self._deps, grant))
            update = Delivery(grant.grant_id, page.event_seq, SLACK_UPDATE, page.target, PENDING, 0,
                              {"channel_id": page.target, "ts": page.external_ref, "event": "page.caught_up",
                               "resolution": text}, now, now, next_attempt_at=now)
            self._insert(update)
        except Exception as exc:  # noqa: BLE001 - the page went out; this is a later nicety
            log.error("queueing the catch-up of grant %s's Slack card failed: %s", page.grant_id,
                      type(exc).__name__)

    def _post_webhook(self, grant: Grant, event_seq: int, name: str, card: ApprovalCard) -> Delivery:
        now = self._deps.clock()
        payload = {"type": "approval_requested", "grant": card.to_json()}
        # Leased, so the dispatcher leaves it alone while this first attempt runs.
        row, fresh = self._insert(Delivery(grant.grant_id, event_seq, WEBHOOK_PAGE, name, PENDING, 0, payload,
                                           now, now, next_attempt_at=now + LEASE))
        return self._sender.send(row) if fresh else row

    def _insert(self, row: Delivery) -> tuple[Delivery, bool]:
        """The stored row and True; when (event, kind, target) exists already, that row and False."""
        with self._deps.store.unit_of_work() as uow:
            new_id = uow.insert_delivery(row)
            if new_id is not None:
                return replace(row, id=new_id), True
            same = [d for d in uow.list_deliveries(grant_id=row.grant_id)
                    if (d.event_seq, d.kind, d.target) == (row.event_seq, row.kind, row.target)]
        return (same[0] if same else row), False
