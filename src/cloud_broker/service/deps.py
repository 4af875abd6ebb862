"""What every use-case needs, gathered once by the edge that wires the broker."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cloud_broker.domain.grants import Grant
from cloud_broker.providers.base import Provider
from cloud_broker.service.ports import (
    AuditEvent,
    GrantStore,
    NoPager,
    Pager,
    UnitOfWork,
)
from cloud_broker.vault import Vault

if TYPE_CHECKING:
    from cloud_broker.config import BrokerConfig
    from cloud_broker.policy.catalogue import Catalogue


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Deps:
    """The adapters, passed in; the service never imports a concrete one."""

    config: BrokerConfig
    store: GrantStore
    provider: Provider
    vault: Vault
    catalogue: Catalogue
    clock: Callable[[], datetime] = utc_now
    pager: Pager = field(default_factory=NoPager)


def audit(uow: UnitOfWork, event: str, actor: str, at: datetime, grant: Grant | None = None, **fields: Any) -> int:
    """Append one audit row and return its position; grant fields fill agent, run and team so
    every row is attributable. The trail doubles as the event feed pushes are made from."""
    if grant is not None:
        fields.setdefault("grant_id", grant.grant_id)
        fields.setdefault("agent_id", grant.agent_id)
        fields.setdefault("run_id", grant.run_id)
        fields.setdefault("team", grant.team)
    return uow.append_audit(AuditEvent(event=event, actor=actor, at=at, **fields))


def agent_actor(grant: Grant) -> str:
    return f"agent:{grant.agent_id} via host:{grant.host}"
