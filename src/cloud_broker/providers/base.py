"""The provider interface and the values that cross it, the same for every family."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from cloud_broker.domain.grants import Grant


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


class Provider(Protocol):
    """A cloud, as one family mints in it. Implementations translate their SDK's errors into
    ``errors.ProviderError`` at this boundary; nothing of the SDK leaks past it."""

    name: str

    def mint(self, plan: Any) -> IssuedCredential:
        """Issue the credentials ``plan`` (the family's ``plan_mint``) describes, limited as it
        says. Raises ProviderError."""
        ...

    def revoke(self, grant: Grant) -> RevokeResult:
        """Stop the grant's credentials working as far as the cloud allows, and say how far that was."""
        ...
