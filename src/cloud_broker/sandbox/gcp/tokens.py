"""Access tokens the double has issued or been seeded with, and what each stands for.

A Google access token is opaque to its holder; Google resolves it to a principal, its
OAuth scopes and its expiry on every call. The double keeps the same record, plus the
access boundary of a downscoped token. Tokens are random (``ya29.`` like Google's, so
logs and redaction treat them alike) and are never written to logs or error messages.

Narrower than Google: tokens cannot be revoked or introspected (no ``tokeninfo``), and
a token's scopes are checked only coarsely (see :mod:`~cloud_broker.sandbox.gcp.scopes`).
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime

from cloud_broker.sandbox.gcp.boundary import AccessBoundary
from cloud_broker.sandbox.gcp.clock import Clock


@dataclass(frozen=True)
class AccessToken:
    """What a token stands for. ``expires_at`` None: never expires (the seeded broker token)."""

    value: str = field(repr=False)
    principal: str
    scopes: frozenset[str]
    expires_at: datetime | None
    boundary: AccessBoundary | None = None

    @property
    def downscoped(self) -> bool:
        return self.boundary is not None

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at


class TokenRegistry:
    """Issues tokens and resolves them, against the double's clock. Thread-safe."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._tokens: dict[str, AccessToken] = {}
        self._lock = threading.Lock()

    def issue(self, principal: str, scopes: frozenset[str], expires_at: datetime | None,
              boundary: AccessBoundary | None = None) -> AccessToken:
        token = AccessToken("ya29." + secrets.token_urlsafe(48), principal, scopes, expires_at, boundary)
        with self._lock:
            self._tokens[token.value] = token
        return token

    def find_valid(self, value: str) -> AccessToken | None:
        """The token if it is known and unexpired now; None otherwise (Google answers 401 alike)."""
        with self._lock:
            token = self._tokens.get(value)
        if token is None or token.expired(self._clock()):
            return None
        return token

    def find_bearer(self, authorization: str) -> AccessToken | None:
        """The valid token of an ``Authorization: Bearer ...`` header value, or None."""
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return None
        return self.find_valid(value.strip())

    def now(self) -> datetime:
        return self._clock()
