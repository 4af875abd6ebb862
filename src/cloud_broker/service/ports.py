"""The interfaces the service needs from its adapters. Concrete adapters are passed in."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from cloud_broker.domain.grants import Grant, GrantStatus
from cloud_broker.vault import SealedSecret


@dataclass(frozen=True)
class AuditEvent:
    """One append-only audit row: who did what to which grant, with which decision and why.

    ``detail`` must never carry a secret; the store does not check, the service makes sure.
    """

    event: str
    actor: str
    at: datetime
    grant_id: str | None = None
    agent_id: str | None = None
    run_id: str | None = None
    team: str | None = None
    decision: str | None = None
    reason: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


class UnitOfWork(Protocol):
    """One transaction. Writes are visible to others only after the context exits cleanly."""

    def insert_grant(self, grant: Grant) -> None: ...

    def update_grant(self, grant: Grant, *, expected: GrantStatus) -> bool:
        """Write ``grant`` only if the stored status is still ``expected``; False if someone else moved it."""
        ...

    def get_grant(self, grant_id: str) -> Grant:
        """Raise NotFound when missing."""
        ...

    def find_grant(self, grant_id: str) -> Grant | None: ...

    def list_grants(self, *, statuses: tuple[GrantStatus, ...] = (), limit: int = 100) -> list[Grant]: ...

    def list_due_for_expiry(self, now: datetime) -> list[Grant]:
        """Active grants whose ``expires_at`` has passed."""
        ...

    def put_secret(self, grant_id: str, sealed: SealedSecret) -> None: ...

    def find_secret(self, grant_id: str) -> SealedSecret | None: ...

    def delete_secret(self, grant_id: str) -> None: ...

    def append_audit(self, event: AuditEvent) -> None: ...

    def list_audit(self, *, grant_id: str | None = None, limit: int = 1000) -> list[AuditEvent]: ...


class GrantStore(Protocol):
    def unit_of_work(self) -> AbstractContextManager[UnitOfWork]:
        """A transaction: commit on clean exit, roll back on exception."""
        ...
