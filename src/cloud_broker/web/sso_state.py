"""What a single sign-on must remember between leaving for the provider and coming back.

The state, nonce and PKCE verifier live in one cookie sealed with AES-256-GCM under a key
derived from the broker's master key: the server keeps nothing per started sign-in, so
starting any number of them costs no memory, and the browser can neither read the verifier
nor change a value without the seal failing. The cookie says when it was made and is refused
after ``PENDING_TTL``, whatever the browser does with its expiry.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

STATE_COOKIE = "cb_console_sso"
KEY_PURPOSE = b"cloud-broker console sso state v1"
# Long enough to type a password and answer a second factor at the provider.
PENDING_TTL = timedelta(minutes=10)
# A sealed cookie is a few hundred bytes; anything much longer was not made here.
MAX_SEALED = 2048
_NONCE_BYTES = 12
_AAD = b"console-sso"


@dataclass(frozen=True)
class PendingSignIn:
    """A sign-in sent to the provider: the values its answer must match, and where to go after."""

    state: str
    nonce: str
    verifier: str
    next: str
    started_at: datetime


class StateSeal:
    """Seals a ``PendingSignIn`` into a cookie value and opens it again, at most ``PENDING_TTL`` later."""

    def __init__(self, key: bytes, clock: Callable[[], datetime]) -> None:
        self._aead = AESGCM(key)
        self._clock = clock

    def seal(self, pending: PendingSignIn) -> str:
        fields = {**asdict(pending), "started_at": pending.started_at.isoformat()}
        nonce = os.urandom(_NONCE_BYTES)
        sealed = nonce + self._aead.encrypt(nonce, json.dumps(fields).encode(), _AAD)
        return base64.urlsafe_b64encode(sealed).decode("ascii")

    def open(self, value: str | None) -> PendingSignIn | None:
        """The pending sign-in, or None when the cookie is missing, forged, altered or too old."""
        if not value or len(value) > MAX_SEALED:
            return None
        try:
            raw = base64.urlsafe_b64decode(value.encode("ascii"))
            plain = self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _AAD)
            fields = json.loads(plain)
            pending = PendingSignIn(**{**fields, "started_at": datetime.fromisoformat(fields["started_at"])})
        except (ValueError, TypeError, KeyError, InvalidTag, binascii.Error):
            return None
        now = self._clock()
        if not pending.started_at <= now < pending.started_at + PENDING_TTL:
            return None
        return pending
