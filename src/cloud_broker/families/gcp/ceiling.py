"""A team's policy ceiling for one GCP project: the most any grant may ever allow."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import ClassVar

from cloud_broker.policy.rules import ApprovalRule, AutoApproveRule


@dataclass(frozen=True)
class GcpCeiling:
    """The envelope for (team, project): the service account the broker impersonates, the
    permissions (patterns) and resources (patterns) any grant may cover, the denylist, and the
    rules that auto-approve or say who must approve."""

    project_id: str
    service_account: str
    max_ttl: timedelta
    allowed_permissions: tuple[str, ...]
    resource_patterns: tuple[str, ...]
    auto_approve: tuple[AutoApproveRule, ...] = ()
    permission_denylist: tuple[str, ...] = ()
    approvers: tuple[str, ...] = field(default_factory=tuple)
    approval_rules: tuple[ApprovalRule, ...] = ()
    # Whether tokens outside Cloud Storage (bounded only by the service account's bindings) may
    # be minted at all, after a person approves.
    allow_service_account_tokens: bool = False

    # What ``policy.compiled`` compiles: GCP permissions are ``service.resource.verb``.
    service_separator: ClassVar[str] = "."

    @property
    def denylist(self) -> tuple[str, ...]:
        return self.permission_denylist

    @property
    def target(self) -> str:
        return self.project_id
