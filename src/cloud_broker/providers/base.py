"""The provider interface and the values that cross it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class MintRequest:
    """Everything a provider needs to mint one grant's credentials; built by the service."""

    grant_id: str
    account_id: str
    role_arn: str
    session_name: str
    session_policy: str
    duration_seconds: int
    region: str
    external_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)


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
    """A cloud. Implementations translate their SDK's errors into ``errors.ProviderError``
    at this boundary; nothing of the SDK leaks past it."""

    name: str

    def mint(self, request: MintRequest) -> IssuedCredential:
        """Issue credentials limited to ``request.session_policy``. Raises ProviderError."""
        ...

    def revoke(self, grant_id: str, account_id: str, expires_at: datetime) -> RevokeResult:
        """Stop the grant's credentials working as far as the cloud allows, and say how far that was."""
        ...
