"""Access tokens the double has issued or been seeded with, and what each stands for.

A Google access token is opaque to its holder; Google resolves it to a principal, its
OAuth scopes and its expiry on every call. The double keeps the same record, plus the
access boundary of a downscoped token. Tokens are random (``ya29.`` like Google's, so
logs and redaction treat them alike) and are never written to logs or error messages.

A token whose principal is a disabled service account is refused wherever it is used, as an
unknown one is (Cloud Storage and IAM Credentials answer 401, STS ``invalid_grant``): Google
documents that such tokens "are rejected", impersonated and downscoped ones alike, since a
downscoped token belongs to the same account. Re-enabling the account makes its unexpired
tokens work again, as Google documents (see :mod:`~cloud_broker.sandbox.gcp.service_accounts`).

Narrower than Google: a single token cannot be revoked (Google's OAuth ``revoke`` endpoint
is not served) or introspected (no ``tokeninfo``), and a token's scopes are checked only
coarsely (see :mod:`~cloud_broker.sandbox.gcp.scopes`). Google does not document the status
it answers to a disabled account's token; the double answers as to any rejected token.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
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
    """Issues tokens and resolves them, against the double's clock and the accounts' state.
    Thread-safe. ``disabled`` says whether a principal is a disabled service account."""

    def __init__(self, clock: Clock, disabled: Callable[[str], bool] = lambda principal: False) -> None:
        self._clock = clock
        self._disabled = disabled
        self._tokens: dict[str, AccessToken] = {}
        self._lock = threading.Lock()

    def issue(self, principal: str, scopes: frozenset[str], expires_at: datetime | None,
              boundary: AccessBoundary | None = None) -> AccessToken:
        token = AccessToken("ya29." + secrets.token_urlsafe(48), principal, scopes, expires_at, boundary)
        with self._lock:
            self._tokens[token.value] = token
        return token

    def find_valid(self, value: str) -> AccessToken | None:
        """The token if it is known, unexpired now and its principal not disabled; None otherwise
        (Google answers 401 alike)."""
        with self._lock:
            token = self._tokens.get(value)
        if token is None or token.expired(self._clock()) or self._disabled(token.principal):
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
