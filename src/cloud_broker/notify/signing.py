"""Signatures on every outbound JSON message (webhooks and agent callbacks).

A receiver must be able to tell that a message came from this broker, was not altered, and
is not a replay of an old one. Each message is a JSON body sent with four headers::

    X-Cloud-Broker-Timestamp: 1718000000          # unix seconds when it was sent
    X-Cloud-Broker-Signature: v1=<hex>            # HMAC-SHA256, see below
    X-Cloud-Broker-Delivery: 42                   # stable id of the delivery (same on retries)
    X-Cloud-Broker-Event: webhook_page            # the delivery kind

``<hex>`` is the lower-case hex HMAC-SHA256, keyed with the shared secret (UTF-8), of the
bytes ``f"{timestamp}.{delivery_id}.{kind}.".encode() + body``: the values of the timestamp,
delivery and event headers, each followed by a dot, then the raw request body exactly as
received (do not re-serialise the JSON before checking). The delivery id and the kind are
inside the MAC because receivers act on them (de-duplicate on the id, route on the kind): a
relay that swapped either would otherwise pass the check. Both are ASCII letters, digits,
``_`` or ``-`` (never a dot), so the signed string has one reading. To verify:

1. read the timestamp header and reject it if it is more than 5 minutes from your clock;
2. compute the HMAC over ``timestamp + "." + delivery id + "." + kind + "." + raw body``
   with your copy of the secret;
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
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

TIMESTAMP_HEADER = "X-Cloud-Broker-Timestamp"
SIGNATURE_HEADER = "X-Cloud-Broker-Signature"
DELIVERY_HEADER = "X-Cloud-Broker-Delivery"
EVENT_HEADER = "X-Cloud-Broker-Event"
VERSION = "v1"
DEFAULT_TOLERANCE = 300
# What a delivery id or kind may be: no dot, so "<id>.<kind>." cannot be read two ways.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,64}")


def encode_body(payload: Mapping[str, Any]) -> bytes:
    """One canonical encoding, so the bytes signed are the bytes sent."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode("utf-8")


def signature(secret: str, timestamp: int, body: bytes, *, delivery_id: str, kind: str) -> str:
    """The ``v1=<hex>`` value. Timestamp, delivery id and kind are inside the MAC, so none of
    them can be swapped without the secret. Raises ``ValueError`` for an id or kind outside
    ``[A-Za-z0-9_-]``: the scheme's one-reading guarantee depends on it."""
    if not (_TOKEN.fullmatch(delivery_id) and _TOKEN.fullmatch(kind)):
        raise ValueError("a delivery id and kind are 1-64 of A-Z a-z 0-9 _ -")
    signed = f"{timestamp}.{delivery_id}.{kind}.".encode("ascii") + body
    mac = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256)
    return f"{VERSION}={mac.hexdigest()}"


def sign(secret: str, body: bytes, *, timestamp: int, delivery_id: str, kind: str) -> dict[str, str]:
    """The headers for one send. Computed per attempt: the secret is never stored with the row."""
    return {
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, body, delivery_id=delivery_id, kind=kind),
        DELIVERY_HEADER: delivery_id,
        EVENT_HEADER: kind,
    }


def verify(secret: str, headers: Mapping[str, str], body: bytes | str, now: float | datetime,
           tolerance: int = DEFAULT_TOLERANCE) -> bool:
    """Whether ``body``, with the delivery id and kind of its headers, was signed with ``secret``
    within ``tolerance`` seconds of ``now``.

    Header names are matched case-insensitively because proxies and frameworks fold them.
    """
    raw = body.encode("utf-8") if isinstance(body, str) else body
    folded = {k.lower(): v for k, v in headers.items()}
    timestamp = _timestamp(folded.get(TIMESTAMP_HEADER.lower()))
    current = now.timestamp() if isinstance(now, datetime) else float(now)
    if timestamp is None or abs(current - timestamp) > tolerance:
        return False
    delivery_id = folded.get(DELIVERY_HEADER.lower(), "")
    kind = folded.get(EVENT_HEADER.lower(), "")
    if not (_TOKEN.fullmatch(delivery_id) and _TOKEN.fullmatch(kind)):
        return False
    expected = signature(secret, timestamp, raw, delivery_id=delivery_id, kind=kind)
    offered = [part.strip() for part in folded.get(SIGNATURE_HEADER.lower(), "").split(",")]
    # Check every value (no early exit) so timing says nothing about which one matched.
    matches = [hmac.compare_digest(expected.encode(), part.encode()) for part in offered if part.isascii()]
    return any(matches)


def _timestamp(value: str | None) -> int | None:
    if value is None or not value.isascii() or not value.strip().isdigit():
        return None
    return int(value.strip())
