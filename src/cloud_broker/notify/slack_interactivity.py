"""A button click from Slack, authenticated and reduced to what the broker acts on.

Slack signs every interactivity request with the app's signing secret; that signature is
the only proof the click came from Slack, so nothing in the body is read before it checks
out. The timestamp window (5 minutes, as Slack recommends) stops a captured request from
being replayed later.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from slack_sdk.signature import Clock, SignatureVerifier

from cloud_broker.errors import InvalidInput, Unauthenticated
from cloud_broker.notify.slack_blocks import APPROVE_ACTION, DENY_ACTION

MAX_SKEW_SECONDS = 5 * 60
MAX_GRANT_ID = 64
_ACTIONS = {APPROVE_ACTION: "approve", DENY_ACTION: "deny"}


@dataclass(frozen=True)
class SlackAction:
    action: str  # "approve" | "deny"
    grant_id: str
    user_id: str  # Slack user who clicked
    channel_id: str | None
    message_ts: str | None
    response_url: str | None


class _FixedClock(Clock):
    """The verifier's clock, pinned to the caller's ``now`` so the check is reproducible."""

    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


def verify_and_parse(signing_secret: str, headers: Mapping[str, str], body: bytes, *, now: float) -> SlackAction:
    """Authenticate the request, then read the click; raises ``Unauthenticated`` or ``InvalidInput``."""
    _verify(signing_secret, headers, body, now)
    return _parse(body)


def _verify(signing_secret: str, headers: Mapping[str, str], body: bytes, now: float) -> None:
    lowered = {k.lower(): v for k, v in headers.items()}
    timestamp, signature = lowered.get("x-slack-request-timestamp"), lowered.get("x-slack-signature")
    if not timestamp or not signature or not timestamp.isascii() or not timestamp.isdigit():
        raise Unauthenticated("the request carries no valid Slack signature headers", code="BAD_SLACK_SIGNATURE")
    if abs(now - int(timestamp)) > MAX_SKEW_SECONDS:
        raise Unauthenticated("the Slack request timestamp is more than 5 minutes away from now; "
                              "it may be a replay", code="STALE_SLACK_REQUEST")
    verifier = SignatureVerifier(signing_secret, clock=_FixedClock(now))
    try:
        valid = verifier.is_valid(body=body, timestamp=timestamp, signature=signature)
    except UnicodeDecodeError:
        valid = False
    if not valid:
        raise Unauthenticated("the Slack signature does not match the request", code="BAD_SLACK_SIGNATURE")


def _parse(body: bytes) -> SlackAction:
    payload = _payload(body)
    if payload.get("type") != "block_actions":
        raise InvalidInput(f"unsupported Slack interaction type {str(payload.get('type'))[:40]!r}")
    action = _our_action(payload.get("actions"))
    grant_id = action.get("value")
    if not isinstance(grant_id, str) or not grant_id or len(grant_id) > MAX_GRANT_ID:
        raise InvalidInput("the Slack button carries no grant id")
    user_id = _dict(payload.get("user")).get("id")
    if not isinstance(user_id, str) or not user_id:
        raise InvalidInput("the Slack interaction names no user")
    container = _dict(payload.get("container"))
    return SlackAction(
        action=_ACTIONS[action["action_id"]],
        grant_id=grant_id,
        user_id=user_id,
        channel_id=_str(container.get("channel_id")) or _str(_dict(payload.get("channel")).get("id")),
        message_ts=_str(container.get("message_ts")) or _str(_dict(payload.get("message")).get("ts")),
        response_url=_str(payload.get("response_url")),
    )


def _payload(body: bytes) -> dict[str, Any]:
    """Slack sends ``payload=<JSON>`` form-encoded."""
    try:
        fields = parse_qs(body.decode("utf-8"), strict_parsing=False)
        payload = json.loads(fields["payload"][0]) if len(fields.get("payload", [])) == 1 else None
    except (UnicodeDecodeError, ValueError):
        payload = None
    if not isinstance(payload, dict):
        raise InvalidInput("a Slack interaction must carry one form field 'payload' holding a JSON object")
    return payload


def _our_action(actions: Any) -> dict[str, Any]:
    """The first of our buttons in the click; other apps' action ids are not ours to act on."""
    for action in actions if isinstance(actions, list) else []:
        if isinstance(action, dict) and action.get("action_id") in _ACTIONS:
            return action
    raise InvalidInput("the Slack interaction holds no approve or deny action of this broker")


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
