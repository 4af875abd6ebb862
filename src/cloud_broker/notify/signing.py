"""Signatures on every outbound JSON message (webhooks and agent callbacks).

A receiver must be able to tell that a message came from this broker, was not altered, and
is not a replay of an old one. Each message is a JSON body sent with four headers::

    X-Cloud-Broker-Timestamp: 1718000000          # unix seconds when it was sent
    X-Cloud-Broker-Signature: v1=<hex>            # HMAC-SHA256, see below
    X-Cloud-Broker-Delivery: 42                   # stable id of the delivery (same on retries)
    X-Cloud-Broker-Event: webhook_page            # the delivery kind

``<hex>`` is the lower-case hex HMAC-SHA256, keyed with the shared secret (UTF-8), of the
bytes ``f"{timestamp}.".encode() + body`` where ``body`` is the raw request body exactly as
received (do not re-serialise the JSON before checking). To verify:

1. read the timestamp header and reject it if it is more than 5 minutes from your clock;
2. compute the HMAC over ``timestamp + "." + raw body`` with your copy of the secret;
3. compare it with each ``v1=`` value of the signature header in constant time
   (the header may carry several comma-separated values while a secret is being rotated).

:func:`verify` does exactly this. A retry re-signs with a fresh timestamp but keeps the
delivery id, so receivers that must act once should de-duplicate on that header: delivery is
at least once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

TIMESTAMP_HEADER = "X-Cloud-Broker-Timestamp"
SIGNATURE_HEADER = "X-Cloud-Broker-Signature"
DELIVERY_HEADER = "X-Cloud-Broker-Delivery"
EVENT_HEADER = "X-Cloud-Broker-Event"
VERSION = "v1"
DEFAULT_TOLERANCE = 300


def encode_body(payload: Mapping[str, Any]) -> bytes:
    """One canonical encoding, so the bytes signed are the bytes sent."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode("utf-8")


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``v1=<hex>`` value; the timestamp is inside the MAC so it cannot be swapped."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body, hashlib.sha256)
    return f"{VERSION}={mac.hexdigest()}"


def sign(secret: str, body: bytes, *, timestamp: int, delivery_id: str, kind: str) -> dict[str, str]:
    """The headers for one send. Computed per attempt: the secret is never stored with the row."""
    return {
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, body),
        DELIVERY_HEADER: delivery_id,
        EVENT_HEADER: kind,
    }


def verify(secret: str, headers: Mapping[str, str], body: bytes | str, now: float | datetime,
           tolerance: int = DEFAULT_TOLERANCE) -> bool:
    """Whether ``body`` was signed with ``secret`` within ``tolerance`` seconds of ``now``.

    Header names are matched case-insensitively because proxies and frameworks fold them.
    """
    raw = body.encode("utf-8") if isinstance(body, str) else body
    folded = {k.lower(): v for k, v in headers.items()}
    timestamp = _timestamp(folded.get(TIMESTAMP_HEADER.lower()))
    current = now.timestamp() if isinstance(now, datetime) else float(now)
    if timestamp is None or abs(current - timestamp) > tolerance:
        return False
    expected = signature(secret, timestamp, raw)
    offered = [part.strip() for part in folded.get(SIGNATURE_HEADER.lower(), "").split(",")]
    # Check every value (no early exit) so timing says nothing about which one matched.
    matches = [hmac.compare_digest(expected.encode(), part.encode()) for part in offered if part.isascii()]
    return any(matches)


def _timestamp(value: str | None) -> int | None:
    if value is None or not value.isascii() or not value.strip().isdigit():
        return None
    return int(value.strip())
