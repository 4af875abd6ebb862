"""The agent's ``notification_*`` fields, read from the delivery rows of a page.

A grant paged on its own is reported from its card and webhook calls; one counted into its
window's summary (``notify.page_limit``) from the summary message and events, with
``batched`` set. Both are read the same way: each channel as its latest row left it.
"""

from __future__ import annotations

from dataclasses import replace

from cloud_broker.notify.webhook import (
    DELIVERED,
    PENDING,
    SLACK_PAGE,
    SLACK_SUMMARY,
    WEBHOOK_PAGE,
    WEBHOOK_SUMMARY,
)
from cloud_broker.service.ports import NOT_CONFIGURED, Delivery, PageReport

SLACK_KINDS = (SLACK_PAGE, SLACK_SUMMARY)
WEBHOOK_KINDS = (WEBHOOK_PAGE, WEBHOOK_SUMMARY)


def report_from(rows: list[Delivery]) -> PageReport:
    """From the page rows of one grant, or the summary rows of one window (oldest first)."""
    slack = latest_slack(rows)
    hooks = list(latest_hooks(rows).values())
    delivered = next((r for r in hooks if r.status == DELIVERED), None)
    if slack is not None:
        return _slack_report(slack, (delivered is not None) if hooks else None)
    if delivered is not None:
        return PageReport(status="sent", channel_name=delivered.target, channel_id=f"webhook:{delivered.target}")
    if not hooks:
        return NOT_CONFIGURED
    first = hooks[0]
    reason = "webhook_secret_not_set" if (first.last_error or "").startswith("secret env") else "webhook_not_delivered"
    return PageReport(status="failed", failure_reason=reason, channel_name=first.target,
                      channel_id=f"webhook:{first.target}")


def batched_report_from(rows: list[Delivery]) -> PageReport:
    """A grant counted into its window's summary, from the summary's rows (Slack message and
    webhook events, not their updates).

    A summary whose first attempt has not come back yet (made by another request, still in
    flight) counts as sent: it goes out with this request counted in. Should that attempt
    fail, the requests after it are told; the ones before it were told "sent" in good faith."""
    in_flight = [replace(r, status=DELIVERED) if r.status == PENDING and r.attempts == 0 else r for r in rows]
    return replace(report_from(in_flight), batched=True)


def paged(row: Delivery | None) -> bool:
    """A page that went out or is still being retried; a failed one may be tried again."""
    return row is not None and row.status in (DELIVERED, PENDING)


def latest_slack(rows: list[Delivery]) -> Delivery | None:
    pages = [r for r in rows if r.kind in SLACK_KINDS]
    return max(pages, key=lambda r: r.id or 0) if pages else None


def latest_hooks(rows: list[Delivery]) -> dict[str, Delivery]:
    latest: dict[str, Delivery] = {}
    for row in sorted((r for r in rows if r.kind in WEBHOOK_KINDS), key=lambda r: r.id or 0):
        latest[row.target] = row
    return latest


def _slack_report(row: Delivery, operator_alerted: bool | None) -> PageReport:
    info = row.payload
    if row.status == DELIVERED:
        return PageReport(status="sent", channel_name=info.get("channel_name"), channel_id=row.target,
                          permalink=row.permalink, bot_user_handle=info.get("bot_user_handle"))
    reason = info.get("failure_reason") or "unknown"
    # Nothing was tried when the broker has no bot: the contract calls that not_attempted.
    status = "not_attempted" if reason == "agent_slack_not_configured" else "failed"
    return PageReport(status=status, failure_reason=reason,
                      channel_name=info.get("channel_name"), channel_id=row.target,
                      bot_user_handle=info.get("bot_user_handle"), operator_alerted=operator_alerted)
