"""Grants and their lifecycle.

    pending ──approve──▶ minting ──▶ active ──▶ revoked | expired
       │                   │
       ├──deny──▶ denied   └──▶ failed
       ├──withdraw──▶ revoked
       └──timeout──▶ expired

A request the policy auto-approves starts in ``minting``; a hard-denied one is written
``denied`` at once. Terminal states never change. ``minting`` is the intent record written
before the cloud is called, so a crash between the cloud call and the commit leaves a row
the broker can find and settle.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from cloud_broker.domain.requests import AccessRequest
from cloud_broker.domain.scope import Scope


class GrantStatus(StrEnum):
    PENDING = "pending"
    MINTING = "minting"
    ACTIVE = "active"
    DENIED = "denied"
    FAILED = "failed"
    REVOKED = "revoked"
    EXPIRED = "expired"


TERMINAL = frozenset({GrantStatus.DENIED, GrantStatus.FAILED, GrantStatus.REVOKED, GrantStatus.EXPIRED})

_ALLOWED: dict[GrantStatus, frozenset[GrantStatus]] = {
    # pending → revoked: the agent withdrew its request before anyone decided.
    GrantStatus.PENDING: frozenset(
        {GrantStatus.MINTING, GrantStatus.DENIED, GrantStatus.EXPIRED, GrantStatus.REVOKED}
    ),
    GrantStatus.MINTING: frozenset({GrantStatus.ACTIVE, GrantStatus.FAILED}),
    GrantStatus.ACTIVE: frozenset({GrantStatus.REVOKED, GrantStatus.EXPIRED}),
}


class IllegalTransition(Exception):
    """A transition the lifecycle forbids; the service turns it into a 409 for the caller."""

    def __init__(self, current: GrantStatus, target: GrantStatus) -> None:
        super().__init__(f"a {current.value} grant cannot become {target.value}")
        self.current = current
        self.target = target


def check_transition(current: GrantStatus, target: GrantStatus) -> None:
    """Raise unless ``current → target`` is one of the lifecycle's edges."""
    if target not in _ALLOWED.get(current, frozenset()):
        raise IllegalTransition(current, target)


@dataclass(frozen=True)
class Grant:
    """One grant as the broker keeps it. Carries no secret: credentials live in the vault."""

    grant_id: str
    # The plug-in that understands ``target`` and ``scope`` ("aws", "gcp").
    family: str
    team: str
    host: str
    agent_id: str
    run_id: str
    # The account, project, … the grant is for, in the family's own notation.
    target: str
    # What the grant allows, as the family's typed document (``domain.scope``).
    scope: Scope
    ttl: timedelta
    status: GrantStatus
    decision: str
    created_at: datetime
    updated_at: datetime
    decision_reason: str | None = None
    expires_at: datetime | None = None
    denial_reason: str | None = None
    task_id: str | None = None
    reason: str | None = None
    source_context: dict[str, Any] | None = None
    turn_initiator: dict[str, Any] | None = None
    approver: str | None = None
    # Approvals recorded so far (names, in order); a grant needing two stays pending after one.
    approvals: tuple[str, ...] = ()
    # The scope as the agent asked for it, kept when an approver narrowed it.
    requested: dict[str, Any] | None = None
    pending_expires_at: datetime | None = None
    # Identifies "the same request from the same run", so a repeat does not page again.
    request_key: str | None = None
    # Bumped by the store on every write: lets a writer detect that someone else wrote first.
    revision: int = 0

    def status_at(self, now: datetime) -> GrantStatus:
        """The status as the caller must see it: an active grant past ``expires_at``, or a
        pending one past ``pending_expires_at``, is expired before any sweeper writes it down."""
        if self.status is GrantStatus.ACTIVE and self.expires_at is not None and now >= self.expires_at:
            return GrantStatus.EXPIRED
        if self.status is GrantStatus.PENDING and self.pending_expires_at is not None and now >= self.pending_expires_at:
            return GrantStatus.EXPIRED
        return self.status

    def request(self) -> AccessRequest:
        """The grant's scope as a request, to be decided again (under today's ceiling)."""
        return AccessRequest(self.family, self.target, self.scope, self.ttl)

    def moved_to(self, target: GrantStatus, at: datetime, **changes: Any) -> Grant:
        """A copy in ``target`` state; refuses edges the lifecycle does not have."""
        check_transition(self.status, target)
        return replace(self, status=target, updated_at=at, **changes)
