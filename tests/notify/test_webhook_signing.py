"""The signature scheme as a receiver sees it, and one signed POST against a real receiver."""

from __future__ import annotations

import hashlib
import hmac
import os
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloud_broker.notify.signing import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    encode_body,
    sign,
    signature,
    verify,
)
from cloud_broker.notify.webhook import MAX_ATTEMPTS, post_signed, retry_delay
from tests.notify.pager_fixtures import Receiver

SECRET = "whsec-" + "unit-" + "0" * 8
NOW = 1_718_000_000


def _headers(body: bytes, timestamp: int = NOW, secret: str = SECRET) -> dict[str, str]:
    return sign(secret, body, timestamp=timestamp, delivery_id="7", kind="webhook_page")


def test_a_signed_body_verifies_with_the_same_secret_only() -> None:
    body = encode_body({"grant_id": "g-1", "risk": {"summary": "write"}})
    headers = _headers(body)
    assert headers["X-Cloud-Broker-Delivery"] == "7" and headers["X-Cloud-Broker-Event"] == "webhook_page"
    assert headers[SIGNATURE_HEADER].startswith("v1=") and len(headers[SIGNATURE_HEADER]) == 3 + 64
    assert verify(SECRET, headers, body, NOW)
    assert not verify(SECRET + "x", headers, body, NOW)
    assert not verify("", headers, body, NOW)


def test_header_names_are_case_insensitive_and_rotation_values_are_accepted() -> None:
    body = b'{"a":1}'
    lowered = {k.lower(): v for k, v in _headers(body).items()}
    assert verify(SECRET, lowered, body, NOW)
    old = signature("old-secret", NOW, body, delivery_id="7", kind="webhook_page")
    rotating = {**lowered, SIGNATURE_HEADER.lower(): f"{old}, {lowered[SIGNATURE_HEADER.lower()]}"}
    assert verify(SECRET, rotating, body, NOW)


def test_stale_future_and_malformed_timestamps_are_refused() -> None:
    body = b"{}"
    headers = _headers(body)
    assert verify(SECRET, headers, body, NOW + 300)
    assert not verify(SECRET, headers, body, NOW + 301)
    assert not verify(SECRET, headers, body, NOW - 301)
    assert verify(SECRET, headers, body, datetime.fromtimestamp(NOW + 10, UTC))
    for bad in ("", "-5", "1e9", "  ", "１２３"):
        assert not verify(SECRET, {**headers, TIMESTAMP_HEADER: bad}, body, NOW)
    assert not verify(SECRET, {k: v for k, v in headers.items() if k != SIGNATURE_HEADER}, body, NOW)


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=256), other=st.binary(max_size=256), shift=st.integers(-300, 300).filter(bool))
def test_any_change_to_body_or_timestamp_breaks_the_signature(body: bytes, other: bytes, shift: int) -> None:
    headers = _headers(body)
    assert verify(SECRET, headers, body, NOW)
    if other != body:
        assert not verify(SECRET, headers, other, NOW)
    # A replayed signature under a new (still fresh) timestamp does not verify either.
    moved = {**headers, TIMESTAMP_HEADER: str(NOW + shift)}
    assert not verify(SECRET, moved, body, NOW)


def test_the_signed_string_is_timestamp_delivery_kind_then_body() -> None:
    """The scheme as the README states it, computed the way a receiver in any language would."""
    body = encode_body({"grant_id": "g-1"})
    expected = hmac.new(SECRET.encode(), f"{NOW}.7.webhook_page.".encode() + body, hashlib.sha256).hexdigest()
    assert _headers(body)[SIGNATURE_HEADER] == f"v1={expected}"


def test_a_changed_delivery_id_or_kind_fails_verification() -> None:
    body = encode_body({"grant_id": "g-1"})
    headers = _headers(body)
    assert not verify(SECRET, {**headers, DELIVERY_HEADER: "8"}, body, NOW)
    assert not verify(SECRET, {**headers, EVENT_HEADER: "webhook_resolution"}, body, NOW)
    assert not verify(SECRET, {k: v for k, v in headers.items() if k != DELIVERY_HEADER}, body, NOW)


def test_ids_and_kinds_that_could_be_read_two_ways_are_neither_signed_nor_verified() -> None:
    body = b"{}"
    with pytest.raises(ValueError):
        sign(SECRET, body, timestamp=NOW, delivery_id="7.webhook", kind="page")
    with pytest.raises(ValueError):
        sign(SECRET, body, timestamp=NOW, delivery_id="7", kind="")
    headers = _headers(body)
    assert not verify(SECRET, {**headers, EVENT_HEADER: "webhook_page\n"}, body, NOW)
    assert not post_signed("http://127.0.0.1:9/hook", SECRET, {}, delivery_id="1.2", kind="k").ok


TOKENS = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", min_size=1, max_size=64)


@settings(max_examples=200, deadline=None)
@given(delivery_id=TOKENS, kind=TOKENS, other_id=TOKENS, other_kind=TOKENS, body=st.binary(max_size=128))
def test_a_signature_holds_only_for_its_own_delivery_id_and_kind(delivery_id: str, kind: str, other_id: str,
                                                                   other_kind: str, body: bytes) -> None:
    headers = sign(SECRET, body, timestamp=NOW, delivery_id=delivery_id, kind=kind)
    assert verify(SECRET, headers, body, NOW)
    if other_id != delivery_id:
        assert not verify(SECRET, {**headers, DELIVERY_HEADER: other_id}, body, NOW)
    if other_kind != kind:
        assert not verify(SECRET, {**headers, EVENT_HEADER: other_kind}, body, NOW)
    if (other_id, other_kind) != (delivery_id, kind):
        assert not verify(SECRET, {**headers, DELIVERY_HEADER: other_id, EVENT_HEADER: other_kind}, body, NOW)


@settings(max_examples=100, deadline=None)
@given(secret=st.text(min_size=1, max_size=40), wrong=st.text(min_size=1, max_size=40))
def test_only_the_signing_secret_verifies(secret: str, wrong: str) -> None:
    body = encode_body({"k": secret})
    headers = _headers(body, secret=secret)
    assert verify(secret, headers, body, NOW)
    if wrong != secret:
        assert not verify(wrong, headers, body, NOW)


def test_backoff_doubles_from_one_second_and_stops_after_eight_attempts() -> None:
    delays = [retry_delay(n) for n in range(1, MAX_ATTEMPTS + 1)]
    assert delays[:-1] == [timedelta(seconds=2 ** i) for i in range(MAX_ATTEMPTS - 1)]
    assert delays[-1] is None
    assert all(d is None or d <= timedelta(minutes=5) for d in delays)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver({"/hook": SECRET}, lambda: datetime.now(UTC)) as running:
        yield running


def test_post_signed_is_verified_by_a_real_receiver(receiver: Receiver) -> None:
    attempt = post_signed(f"{receiver.url}/hook", SECRET, {"grant_id": "g-1"}, delivery_id="3", kind="webhook_page")
    assert attempt.ok and attempt.status_code == 200 and attempt.error is None
    [call] = receiver.calls
    assert call.verified and call.json() == {"grant_id": "g-1"}
    assert call.headers["X-Cloud-Broker-Delivery"] == "3" and call.headers["Content-Type"] == "application/json"
    assert abs(int(call.headers[TIMESTAMP_HEADER]) - time.time()) < 300


def test_a_receiver_with_another_secret_rejects_the_call(receiver: Receiver) -> None:
    attempt = post_signed(f"{receiver.url}/hook", "not-the-secret", {"grant_id": "g-1"}, delivery_id="3", kind="k")
    assert not attempt.ok and attempt.status_code == 401
    assert attempt.error == "HTTP 401: invalid signature"
    assert receiver.calls[0].verified is False


def test_server_errors_are_reported_with_a_short_text(receiver: Receiver) -> None:
    receiver.fail_first = 1
    attempt = post_signed(f"{receiver.url}/hook", SECRET, {"x": "y"}, delivery_id="1", kind="k")
    assert (attempt.ok, attempt.status_code, attempt.error) == (False, 500, "HTTP 500: receiver is down")


def test_redirects_are_not_followed(receiver: Receiver) -> None:
    attempt = post_signed(f"{receiver.url}/moved", SECRET, {"x": "y"}, delivery_id="1", kind="k")
    assert not attempt.ok and attempt.status_code == 302 and "not followed" in (attempt.error or "")
    assert receiver.on("/hook") == []


def test_an_unreachable_receiver_is_a_trimmed_error_without_url_or_secret() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    secret = "s-" + os.urandom(8).hex()
    url = f"http://127.0.0.1:{port}/hook?token={secret}"
    attempt = post_signed(url, secret, {"x": "y"}, delivery_id="1", kind="k", timeout=1.0)
    assert not attempt.ok and attempt.status_code is None
    assert attempt.error and attempt.error.startswith("ConnectError")
    assert len(attempt.error) <= 200 and secret not in attempt.error and url not in attempt.error


def test_an_unserialisable_payload_is_refused_without_sending(receiver: Receiver) -> None:
    attempt = post_signed(f"{receiver.url}/hook", SECRET, {"x": object()}, delivery_id="1", kind="k")
    assert not attempt.ok and "JSON" in (attempt.error or "")
    assert receiver.calls == []
