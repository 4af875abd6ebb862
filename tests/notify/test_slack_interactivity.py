"""verify_and_parse: Slack's signature and timestamp checks, then the block_actions payload."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import urlencode

import pytest

from cloud_broker.errors import InvalidInput, Unauthenticated
from cloud_broker.notify.slack_interactivity import SlackAction, verify_and_parse
from tests.fakes.fake_slack import signed_click

NOW = 1_700_000_000


def _signed(secret: str, body: bytes, stamp: int = NOW) -> dict[str, str]:
    digest = hmac.new(secret.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(stamp), "X-Slack-Signature": f"v0={digest}"}


def _payload_body(payload: Any) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


def test_a_signed_click_parses(signing_secret: str) -> None:
    headers, body = signed_click(signing_secret, "approve", "g-1", "U0ALICE", "C0APPROVALS", "17.000100", NOW,
                                 response_url="https://hooks.example/actions/1")
    assert verify_and_parse(signing_secret, headers, body, now=NOW + 10) == SlackAction(
        action="approve", grant_id="g-1", user_id="U0ALICE", channel_id="C0APPROVALS", message_ts="17.000100",
        response_url="https://hooks.example/actions/1")


def test_deny_parses_and_header_case_does_not_matter(signing_secret: str) -> None:
    headers, body = signed_click(signing_secret, "deny", "g-2", "U0BOB", "C0APPROVALS", "17.1", NOW)
    lowered = {k.lower(): v for k, v in headers.items()}
    assert verify_and_parse(signing_secret, lowered, body, now=NOW).action == "deny"


def test_a_click_signed_with_another_secret_is_refused(signing_secret: str) -> None:
    headers, body = signed_click("another-" + signing_secret, "approve", "g", "U0ALICE", "C0", "1.1", NOW)
    with pytest.raises(Unauthenticated) as refused:
        verify_and_parse(signing_secret, headers, body, now=NOW)
    leaked = signing_secret in refused.value.text
    assert refused.value.code == "BAD_SLACK_SIGNATURE" and not leaked


def test_a_tampered_body_is_refused(signing_secret: str) -> None:
    headers, body = signed_click(signing_secret, "approve", "g-1", "U0BOB", "C0", "1.1", NOW)
    with pytest.raises(Unauthenticated) as refused:
        verify_and_parse(signing_secret, headers, body.replace(b"U0BOB", b"U0ALICE"), now=NOW)
    assert refused.value.code == "BAD_SLACK_SIGNATURE"


@pytest.mark.parametrize("offset", [-360, 360])
def test_a_timestamp_six_minutes_away_is_stale(signing_secret: str, offset: int) -> None:
    headers, body = signed_click(signing_secret, "approve", "g", "U0ALICE", "C0", "1.1", NOW + offset)
    with pytest.raises(Unauthenticated) as refused:
        verify_and_parse(signing_secret, headers, body, now=NOW)
    assert refused.value.code == "STALE_SLACK_REQUEST"


def test_four_minutes_old_is_still_accepted(signing_secret: str) -> None:
    headers, body = signed_click(signing_secret, "approve", "g", "U0ALICE", "C0", "1.1", NOW - 240)
    assert verify_and_parse(signing_secret, headers, body, now=NOW).grant_id == "g"


@pytest.mark.parametrize("headers", [
    {}, {"X-Slack-Signature": "v0=00"}, {"X-Slack-Request-Timestamp": str(NOW)},
    {"X-Slack-Request-Timestamp": "soon", "X-Slack-Signature": "v0=00"},
])
def test_missing_or_garbled_headers_are_refused(signing_secret: str, headers: dict[str, str]) -> None:
    with pytest.raises(Unauthenticated) as refused:
        verify_and_parse(signing_secret, headers, b"payload=%7B%7D", now=NOW)
    assert refused.value.code == "BAD_SLACK_SIGNATURE"


def test_a_non_utf8_body_is_refused_not_crashed(signing_secret: str) -> None:
    body = b"payload=\xff\xfe"  # Slack bodies are ASCII; the SDK cannot even hash this one
    with pytest.raises(Unauthenticated):
        verify_and_parse(signing_secret, _signed(signing_secret, body), body, now=NOW)


@pytest.mark.parametrize("body", [
    b"", b"payload=not-json", b"other=1", _payload_body([1, 2]),
    _payload_body({"type": "view_submission"}),
    _payload_body({"type": "block_actions", "user": {"id": "U0A"}, "actions": [{"action_id": "someone_else", "value": "g"}]}),
    _payload_body({"type": "block_actions", "user": {"id": "U0A"}, "actions": [{"action_id": "cloud_broker_approve"}]}),
    _payload_body({"type": "block_actions", "actions": [{"action_id": "cloud_broker_deny", "value": "g"}]}),
    _payload_body({"type": "block_actions", "user": {"id": "U0A"},
                   "actions": [{"action_id": "cloud_broker_deny", "value": "g" * 65}]}),
])
def test_malformed_payloads_are_invalid_input(signing_secret: str, body: bytes) -> None:
    with pytest.raises(InvalidInput):
        verify_and_parse(signing_secret, _signed(signing_secret, body), body, now=NOW)


def test_real_time_clicks_from_the_fake_verify_against_real_time(signing_secret: str) -> None:
    headers, body = signed_click(signing_secret, "approve", "g", "U0ALICE", "C0", "1.1")
    assert verify_and_parse(signing_secret, headers, body, now=time.time()).user_id == "U0ALICE"
