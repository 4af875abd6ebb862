"""The broker's Slack bot: checks the approval channel, pages approvers, closes the page.

Nothing here raises for Slack or network trouble: a page that cannot be sent must not
break the request that caused it, so every call returns the contract's reason code
(plus Slack's own error code for operators). The bot token lives only inside the
``WebClient``; it is never logged, formatted into a message, or returned.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from cloud_broker.notify.cards import ApprovalCard, BatchSummary
from cloud_broker.notify.slack_blocks import (
    fallback_text,
    request_blocks,
    resolved_blocks,
    resolved_fallback_text,
    summary_blocks,
    summary_fallback_text,
)

# slack_sdk logs whole request bodies at DEBUG; approval cards must not end up in logs
# because an operator turned on debug logging.
logging.getLogger("slack_sdk").setLevel(logging.WARNING)
_SDK_LOG = logging.getLogger("cloud_broker.notify.slack_sdk")
_SDK_LOG.setLevel(logging.WARNING)
log = logging.getLogger("cloud_broker.notify.slack")

AUTH_ERRORS = frozenset({"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"})
_CHANNEL_ERRORS = {"channel_not_found": "channel_not_found", "not_in_channel": "not_in_channel",
                   "is_archived": "archived"}
_INVITE_REASONS = frozenset({"channel_not_found", "not_in_channel"})


@dataclass(frozen=True)
class SlackPost:
    ok: bool
    channel_id: str
    channel_name: str | None = None
    ts: str | None = None  # message timestamp, needed to update it later
    permalink: str | None = None
    error: str | None = None  # contract reason: channel_not_found | not_in_channel | archived | auth_failed | unknown
    raw_error: str | None = None  # Slack's own error code, for operators
    bot_user_handle: str | None = None


@dataclass(frozen=True)
class _Reply:
    data: dict[str, Any]
    error: str | None = None


def reason_for(raw_error: str) -> str:
    """The contract's reason for one of Slack's error codes; what the model tells the user."""
    if raw_error in AUTH_ERRORS:
        return "auth_failed"
    return _CHANNEL_ERRORS.get(raw_error, "unknown")


class SlackNotifier:
    """One bot token, one workspace. Safe to share between threads."""

    def __init__(self, bot_token: str, *, base_url: str = "https://slack.com/api/", timeout: float = 5.0) -> None:
        self._client = WebClient(token=bot_token, base_url=base_url, timeout=max(1, math.ceil(timeout)),
                                 logger=_SDK_LOG)
        self._identity: tuple[str, str] | None = None

    def __repr__(self) -> str:
        return f"SlackNotifier(base_url={self._client.base_url!r})"

    def channel_status(self, channel_id: str) -> dict[str, Any]:
        """Whether the bot can post in ``channel_id``, answered by Slack itself, in the
        approval-channel-status shape of the contract (section 6.2)."""
        identity = self._bot_identity()
        if identity.error:
            return {"ok": False, "reason": reason_for(identity.error), "raw_error": identity.error}
        handle = identity.data["handle"]
        info = self._call(self._client.conversations_info, channel=channel_id)
        if info.error:
            return {"ok": False, "reason": reason_for(info.error), "raw_error": info.error, "bot_user_handle": handle}
        channel = info.data.get("channel") or {}
        summary = {"id": channel.get("id", channel_id), "name": channel.get("name"),
                   "is_archived": bool(channel.get("is_archived")), "is_member": bool(channel.get("is_member"))}
        if summary["is_archived"]:
            return {"ok": False, "reason": "archived", "channel": summary, "bot_user_handle": handle}
        if not summary["is_member"]:
            return {"ok": False, "reason": "not_in_channel", "channel": summary, "bot_user_handle": handle}
        return {"ok": True, "channel": summary, "bot_user_handle": handle}

    def post_approval_request(self, channel_id: str, card: ApprovalCard) -> SlackPost:
        """Page the approvers; the returned ``ts`` is what the resolution update needs."""
        return self._post(channel_id, fallback_text(card), request_blocks(card), f"grant {card.grant_id}")

    def post_summary(self, channel_id: str, summary: BatchSummary) -> SlackPost:
        """Post a page window's summary message; its ``ts`` is what later counts update."""
        return self._post(channel_id, summary_fallback_text(summary), summary_blocks(summary),
                          f"the summary of team {summary.team} on {summary.target.id}")

    def update_summary(self, channel_id: str, ts: str, summary: BatchSummary) -> str | None:
        """Show the summary's current count; None on success, Slack's error code otherwise."""
        updated = self._call(self._client.chat_update, channel=channel_id, ts=ts, text=summary_fallback_text(summary),
                             blocks=summary_blocks(summary))
        if updated.error:
            log.warning("slack update of the summary of team %s on %s failed: %s", summary.team,
                        summary.target.id, updated.error)
        return updated.error

    def _post(self, channel_id: str, text: str, blocks: list[dict[str, Any]], what: str) -> SlackPost:
        posted = self._call(self._client.chat_postMessage, channel=channel_id, text=text,
                            blocks=blocks, unfurl_links=False, unfurl_media=False)
        if posted.error:
            log.warning("slack page for %s failed: %s", what, posted.error)
            reason = reason_for(posted.error)
            # The handle only helps when the fix is "/invite @bot"; asking Slack again for an
            # auth or network failure would just double the wait.
            handle = self._bot_identity().data.get("handle") if reason in _INVITE_REASONS else None
            return SlackPost(ok=False, channel_id=channel_id, error=reason, raw_error=posted.error,
                             bot_user_handle=handle)
        handle = self._bot_identity().data.get("handle")
        channel = str(posted.data.get("channel") or channel_id)
        ts = str(posted.data.get("ts") or "") or None
        return SlackPost(ok=True, channel_id=channel, channel_name=self._channel_name(channel), ts=ts,
                         permalink=self._permalink(channel, ts), bot_user_handle=handle)

    def update_approval_message(self, channel_id: str, ts: str, card: ApprovalCard) -> str | None:
        """Replace the buttons with the outcome; None on success, Slack's error code otherwise.

        A grant still pending (one of two approvals given) keeps its buttons, with the count
        updated, so the second approver can still act from Slack."""
        if card.status == "pending":
            text, blocks = fallback_text(card), request_blocks(card)
        else:
            text, blocks = resolved_fallback_text(card), resolved_blocks(card)
        updated = self._call(self._client.chat_update, channel=channel_id, ts=ts, text=text, blocks=blocks)
        if updated.error:
            log.warning("slack update for grant %s failed: %s", card.grant_id, updated.error)
        return updated.error

    def _bot_identity(self) -> _Reply:
        """auth.test, once: the bot's handle is what the user is told to ``/invite``."""
        if self._identity is not None:
            return _Reply({"user_id": self._identity[0], "handle": self._identity[1]})
        reply = self._call(self._client.auth_test)
        if reply.error:
            return _Reply({}, reply.error)
        self._identity = (str(reply.data.get("user_id") or ""), str(reply.data.get("user") or ""))
        return _Reply({"user_id": self._identity[0], "handle": self._identity[1]})

    def _permalink(self, channel_id: str, ts: str | None) -> str | None:
        """Best effort: a page without a link is still a page."""
        if not ts:
            return None
        reply = self._call(self._client.chat_getPermalink, channel=channel_id, message_ts=ts)
        return None if reply.error else reply.data.get("permalink")

    def _channel_name(self, channel_id: str) -> str | None:
        reply = self._call(self._client.conversations_info, channel=channel_id)
        return None if reply.error else (reply.data.get("channel") or {}).get("name")

    @staticmethod
    def _call(method: Callable[..., Any], **kwargs: Any) -> _Reply:
        """One Web API call, with every failure folded into an error code. Exception texts
        are not kept: they may quote request details, and only the code is actionable."""
        try:
            response = method(**kwargs)
        except SlackApiError as exc:
            body = exc.response.data if isinstance(exc.response.data, dict) else {}
            return _Reply({}, str(body.get("error") or f"http_{exc.response.status_code}"))
        except Exception as exc:  # noqa: BLE001 - network trouble of any kind must not escape a notifier
            return _Reply({}, f"request_failed:{type(exc).__name__}")
        data = response.data if isinstance(response.data, dict) else {}
        return _Reply(data)
