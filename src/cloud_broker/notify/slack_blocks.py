"""Block Kit for an approval request, rendered from an ``ApprovalCard``.

Agent-written text (reason, task id, resource names) is put in ``plain_text`` elements only,
which Slack never parses: no mention, link, channel reference, bold or emoji can come out of
it, so a reason cannot ping the channel, disguise a link or fake a "Risk" line. Text from the
broker and its operator (names from the config, action patterns the API validated, an
approver's denial reason) is mrkdwn, made inert by ``escape``. Lists and long text are capped
so a message never exceeds Slack's block limits and the decision buttons are always rendered.
"""

from __future__ import annotations

import re
from typing import Any

from cloud_broker.notify.cards import ApprovalCard, BatchSummary
from cloud_broker.policy.risk import ActionRisk

APPROVE_ACTION = "cloud_broker_approve"
DENY_ACTION = "cloud_broker_deny"
DECISION_BLOCK = "cloud_broker_decision"

MAX_LISTED = 20
SECTION_LIMIT = 3000  # Slack: section text
FIELD_LIMIT = 2000  # Slack: one section field
HEADER_LIMIT = 150  # Slack: header plain_text
REASON_LIMIT = 1000
ITEM_LIMIT = 300

_STATUS_MARK = {
    "active": ":white_check_mark:", "denied": ":no_entry:", "expired": ":hourglass:",
    "failed": ":x:", "revoked": ":no_entry_sign:", "pending": ":hourglass_flowing_sand:",
}
_PARTIAL_ENTITY = re.compile(r"&[a-z]{0,3}$")


def escape(text: str) -> str:
    """Disarm Slack's ``<…>`` syntax in mrkdwn: no mention, no disguised link, no channel reference
    survives. Formatting (``*bold*``) does, and so does the auto-linking of a bare URL unless the
    element is ``verbatim``; that is why agent-written text never goes into mrkdwn at all."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def fit(escaped: str, limit: int) -> str:
    """Cut already-escaped text to ``limit`` characters without leaving half an entity."""
    if len(escaped) <= limit:
        return escaped
    return _PARTIAL_ENTITY.sub("", escaped[: limit - 1]) + "…"


def clip(raw: str, limit: int) -> str:
    """Cut raw text before escaping, so a long reason cannot crowd out the rest."""
    return raw if len(raw) <= limit else raw[: limit - 1] + "…"


def request_blocks(card: ApprovalCard) -> list[dict[str, Any]]:
    """The message an approver decides on: the facts, the risk, and the two buttons."""
    return [*_info_blocks(card), _decision_block(card.grant_id)]


def resolved_blocks(card: ApprovalCard) -> list[dict[str, Any]]:
    """The same facts with the buttons replaced by the outcome, so nobody clicks a dead request."""
    return [*_info_blocks(card),
            _section(f"{_STATUS_MARK.get(card.status, '')} *Outcome:* {outcome_text(card)}".strip())]


def fallback_text(card: ApprovalCard) -> str:
    """What notifications and clients without Block Kit show."""
    return fit(
        f"Access request from agent {escape(card.agent_name)} (team {escape(card.team)}) for "
        f"{escape(card.target.name)} ({escape(card.target.id)}): {len(card.actions)} "
        f"{escape(card.fields[0].label.lower()) if card.fields else 'item(s)'}, "
        f"{escape(card.risk.headline())}",
        SECTION_LIMIT,
    )


def resolved_fallback_text(card: ApprovalCard) -> str:
    return fit(f"Access request from agent {escape(card.agent_name)}: {outcome_text(card)}", SECTION_LIMIT)


def summary_blocks(summary: BatchSummary) -> list[dict[str, Any]]:
    """The one message for the requests beyond a window's page limit: no buttons (each request
    is decided on its own page in the console), and only text from the broker and its config."""
    noun = "request" if summary.count == 1 else "requests"
    text = (f":inbox_tray: *{summary.count} more access {noun}* for team *{escape(summary.team)}* on "
            f"{escape(summary.target.kind)} *{escape(summary.target.name)}* ({_code(summary.target.id)}) arrived since "
            f"{summary.window_start:%H:%M} UTC: more than {summary.page_limit} in {summary.window_minutes} min, "
            f"so until {summary.window_end:%H:%M} UTC they are not posted one by one.")
    link = (f"<{_link_target(summary.console_url)}|Review them in the console>" if summary.console_url
            else "Review them in the cloud-broker console.")
    return [_section(text), _section(link)]


def summary_fallback_text(summary: BatchSummary) -> str:
    return fit(escape(summary.headline()), SECTION_LIMIT)


def outcome_text(card: ApprovalCard) -> str:
    """Escaped: a resolution carries an approver's free-text denial reason."""
    return fit(escape(clip(card.resolution or card.status, REASON_LIMIT)), SECTION_LIMIT)


def _info_blocks(card: ApprovalCard) -> list[dict[str, Any]]:
    reason = _plain(f"Reason, as the agent wrote it:\n{clip(card.reason, REASON_LIMIT)}") if card.reason \
        else _section("*Reason*\n_none given_")
    return [
        {"type": "header", "text": {"type": "plain_text", "emoji": False,
                                    "text": clip(f"Access request: {card.agent_name} → {card.target.name}", HEADER_LIMIT)}},
        {"type": "section", "fields": _fields(card)},
        reason,
        _risk_block(card),
        *_scope_blocks(card),
        {"type": "context", "elements": [_mrkdwn(fit(_context_text(card), SECTION_LIMIT))]},
    ]


def _scope_blocks(card: ApprovalCard) -> list[dict[str, Any]]:
    """The first list (the actions) with what the catalogue says of each; every other list that
    is not shown among the facts as agent-written plain text."""
    if not card.fields:
        return []
    first, *rest = card.fields
    blocks = [_section(_list_text(f"*{escape(first.label)}* ({len(card.actions)})",
                                  [_action_line(a) for a in _action_rows(card)]))]
    for field in rest:
        if not field.inline:
            items = list(card.scope.get(field.key, ()))
            blocks.append({"type": "section", "text": _plain_list(f"{field.label} ({len(items)})", items,
                                                                  SECTION_LIMIT)})
    return blocks


def _fields(card: ApprovalCard) -> list[dict[str, Any]]:
    approvers = f" ({escape(', '.join(card.approvals))})" if card.approvals else ""
    rows = [
        f"*Agent*\n{escape(card.agent_name)}",
        f"*Team*\n{escape(card.team)}",
        f"*{escape(card.target.kind.capitalize())}*\n{escape(card.target.name)} ({_code(card.target.id)})",
        *(f"*{escape(field.label)}*\n{escape(', '.join(card.scope.get(field.key, ())[:MAX_LISTED])) or '—'}"
          for field in card.fields if field.inline),
        f"*TTL*\n{_duration(card.ttl_seconds)}",
        f"*Approvals*\n{len(card.approvals)} of {card.required_approvals}{approvers}",
    ]
    task = _plain_text(f"Task: {clip(card.task_id, ITEM_LIMIT)}" if card.task_id else "Task: —")
    return [*(_mrkdwn(fit(row, FIELD_LIMIT)) for row in rows), task]


def _risk_block(card: ApprovalCard) -> dict[str, Any]:
    """The risk in the broker's words; the wildcard resources it names are the agent's, so they
    are listed in a plain_text field of the same block."""
    block = _section(_risk_text(card))
    if card.risk.wildcard_resources:
        block["fields"] = [_plain_list("Wildcard resources", list(card.risk.wildcard_resources), FIELD_LIMIT)]
    return block


def _risk_text(card: ApprovalCard) -> str:
    risk = card.risk
    alarming = risk.writes or risk.sensitive or risk.wildcard_actions or risk.wildcard_resources
    lines = [f"{':warning: ' if alarming else ''}*Risk:* {escape(risk.headline())}"]
    if risk.wildcard_actions:
        lines.append("• wildcard actions: " + _joined(risk.wildcard_actions))
    if risk.wildcard_resources:
        lines.append(f"• wildcard resources: {len(risk.wildcard_resources)} (listed below)")
    if risk.sensitive:
        lines.append("• sensitive services: " + ", ".join(
            f"{escape(s)} ({escape(risk.sensitive_reasons.get(s, s))})" for s in risk.sensitive))
    if risk.level_counts:
        lines.append("• access levels: " + ", ".join(f"{escape(k)} {v}" for k, v in risk.level_counts.items()))
    lines.extend(f"• {escape(note)}" for note in risk.notes)
    return "\n".join(lines)


def _action_rows(card: ApprovalCard) -> list[ActionRisk]:
    """The catalogue's view of each action; an action it does not know is still listed."""
    if card.risk.actions:
        return list(card.risk.actions)
    return [ActionRisk(requested=a, levels=(), expands_to=0, wildcard="*" in a or "?" in a) for a in card.actions]


def _action_line(row: ActionRisk) -> str:
    levels = ", ".join(row.levels) or "unknown to the catalogue"
    expands = f", expands to {row.expands_to}" if row.wildcard else ""
    return f"{_code(row.requested)} — {escape(levels)}{expands}"


def _list_text(title: str, lines: list[str]) -> str:
    shown = lines[:MAX_LISTED]
    more = len(lines) - len(shown)
    body = "\n".join(f"• {line}" for line in shown) or "—"
    tail = f"\n…and {more} more" if more else ""
    # Keep the tail even when the list itself has to be cut.
    return fit(f"{title}\n{body}", SECTION_LIMIT - len(tail)) + tail


def _plain_list(title: str, items: list[str], limit: int) -> dict[str, Any]:
    """A bulleted list of agent-written items as one plain_text element, the tail always kept."""
    shown = items[:MAX_LISTED]
    more = len(items) - len(shown)
    body = "\n".join(f"• {escape(clip(item, ITEM_LIMIT))}" for item in shown) or "—"
    tail = f"\n…and {more} more" if more else ""
    return {"type": "plain_text", "text": fit(f"{title}\n{body}", limit - len(tail)) + tail, "emoji": False}


def _context_text(card: ApprovalCard) -> str:
    parts = [f"Grant {_code(card.grant_id)}"]
    if card.pending_expires_at:
        parts.append(f"waits for approval until {escape(card.pending_expires_at)}")
    if card.console_url:
        parts.append(f"<{_link_target(card.console_url)}|Open in the console>")
    return " · ".join(parts)


def _decision_block(grant_id: str) -> dict[str, Any]:
    return {"type": "actions", "block_id": DECISION_BLOCK, "elements": [
        {"type": "button", "action_id": APPROVE_ACTION, "style": "primary", "value": grant_id,
         "text": {"type": "plain_text", "text": "Approve"}},
        {"type": "button", "action_id": DENY_ACTION, "style": "danger", "value": grant_id,
         "text": {"type": "plain_text", "text": "Deny"}},
    ]}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(fit(text, SECTION_LIMIT))}


def _mrkdwn(text: str) -> dict[str, Any]:
    """Verbatim: Slack does not turn bare URLs or channel names in our own text into links."""
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def _plain(raw: str) -> dict[str, Any]:
    return {"type": "section", "text": _plain_text(raw, SECTION_LIMIT)}


def _plain_text(raw: str, limit: int = FIELD_LIMIT) -> dict[str, Any]:
    """Shown as written: no mrkdwn, no mention, no link, and ``:emoji:`` stays text. The three
    control characters are still entity-encoded, as Slack asks of every text object; it
    decodes them for display."""
    return {"type": "plain_text", "text": fit(escape(raw), limit), "emoji": False}


def _code(raw: str) -> str:
    """Inline code keeps ``*`` in patterns from turning into bold. Only validated text (action
    patterns, ids) is code-spanned; one holding a backtick could not be, so it would be shown
    escaped but unformatted rather than altered."""
    text = escape(clip(raw, ITEM_LIMIT))
    return text if "`" in raw else f"`{text}`"


def _joined(items: tuple[str, ...]) -> str:
    shown = ", ".join(_code(i) for i in items[:MAX_LISTED])
    return shown + (f" …and {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else "")


def _link_target(url: str) -> str:
    """A URL inside ``<…|…>`` must not close the link or start a label early."""
    return escape(url).replace("|", "%7C")


def _duration(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} s"
    hours, minutes = divmod(seconds // 60, 60)
    if not hours:
        return f"{minutes} min"
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"
