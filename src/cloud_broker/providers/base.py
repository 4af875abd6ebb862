"""The provider interface and the values that cross it, the same for every family."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

Fence = Callable[[], bool]
"""Asked right before a provider writes revocation state in the cloud: True while this process
still holds the exclusive right to write it (the service's lease on the target, renewed)."""


@dataclass(frozen=True)
class IssuedCredential:
    """Credential values as the agent will receive them. ``repr`` never shows them."""

    values: dict[str, str] = field(repr=False)
    cloud_expires_at: datetime

    def to_bytes(self) -> bytes:
        """The plaintext the vault seals."""
        return json.dumps(self.values, separators=(",", ":")).encode()

    @classmethod
    def values_from_bytes(cls, plaintext: bytes) -> dict[str, str]:
        return dict(json.loads(plaintext))


@dataclass(frozen=True)
class RevokeResult:
    """What revocation really achieved in the cloud, so nobody mistakes a database flag for a kill."""

    revoked_in_cloud: bool
    detail: str
    collateral_before: datetime | None = None
    """Set when the cloud could only refuse *every* session issued before this moment (a fallback
    that also cuts off other grants' credentials); the service tells those grants' audit trails."""


class Provider(Protocol):
    """A cloud, as one family mints in it. Implementations translate their SDK's errors into
    ``errors.ProviderError`` at this boundary; nothing of the SDK leaks past it."""

    name: str

    def mint(self, plan: Any) -> IssuedCredential:
        """Issue the credentials ``plan`` (the family's ``plan_mint``) describes, limited as it
        says. Raises ProviderError."""
        ...

    def revoke(self, plan: Any, fence: Fence) -> RevokeResult:
        """Stop the credentials ``plan`` (the family's ``plan_revoke``) names working as far as the
        cloud allows, and say truthfully how far that was: ``revoked_in_cloud`` only when the
        cloud now refuses them, and ``detail`` says what else the act cut off or left working.
        Raises ProviderError (retried by the job) when the cloud call itself fails."""
        ...

    def collect(self, plan: Any, fence: Fence) -> int:
        """Remove revocation state the cloud no longer needs (every session it refuses has
        expired); how many entries went. Raises ProviderError."""
        ...
