"""What every use-case needs, gathered once by the edge that wires the broker."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cloud_broker.domain.grants import Grant
from cloud_broker.errors import NotFound
from cloud_broker.plugins import Families, UnknownFamily, installed_families
from cloud_broker.providers.base import Provider
from cloud_broker.service.ports import (
    AuditEvent,
    GrantStore,
    NoPager,
    Pager,
    UnitOfWork,
)
from cloud_broker.service.request_context import current_request_id
from cloud_broker.vault import Vault

if TYPE_CHECKING:
    from cloud_broker.config import BrokerConfig
    from cloud_broker.service.family import ServiceFamily


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Deps:
    """The adapters, passed in; the service never imports a concrete one.

    ``providers`` holds one provider per family that mints (by family name); ``families`` the
    families this broker serves (the installed ones unless an embedder or a test chooses).
    """

    config: BrokerConfig
    store: GrantStore
    providers: Mapping[str, Provider]
    vault: Vault
    clock: Callable[[], datetime] = utc_now
    pager: Pager = field(default_factory=NoPager)
    families: Families = field(default_factory=installed_families)
    instance: str = field(default_factory=lambda: uuid.uuid4().hex)
    """This broker process, as the rows it starts minting name it (``service.orphans``)."""

    def family(self, name: str) -> ServiceFamily:
        """The family of a grant or a route; a name this broker does not serve reads as not found."""
        try:
            return self.families[name]  # type: ignore[no-any-return]
        except UnknownFamily:
            raise NotFound(f"this broker does not serve the '{name}' family", code="UNKNOWN_FAMILY") from None

    def provider(self, family: str) -> Provider:
        provider = self.providers.get(family)
        if provider is None:
            raise NotFound(f"this broker has no provider for the '{family}' family", code="UNKNOWN_FAMILY")
        return provider


def audit(uow: UnitOfWork, event: str, actor: str, at: datetime, grant: Grant | None = None, **fields: Any) -> int:
    """Append one audit row and return its position; grant fields fill agent, run and team so
    every row is attributable, and the request being handled names itself in it. The trail
    doubles as the event feed pushes are made from."""
    fields.setdefault("request_id", current_request_id())
    if grant is not None:
        fields.setdefault("grant_id", grant.grant_id)
        fields.setdefault("agent_id", grant.agent_id)
        fields.setdefault("run_id", grant.run_id)
        fields.setdefault("team", grant.team)
    return uow.append_audit(AuditEvent(event=event, actor=actor, at=at, **fields))


def agent_actor(grant: Grant) -> str:
    return f"agent:{grant.agent_id} via host:{grant.host}"
