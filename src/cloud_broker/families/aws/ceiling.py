"""A team's policy ceiling for one AWS account: the most any grant may ever allow."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import ClassVar

from cloud_broker.policy.rules import ApprovalRule, AutoApproveRule

__all__ = ["ApprovalRule", "AutoApproveRule", "Ceiling"]


@dataclass(frozen=True)
class Ceiling:
    """The envelope for (team, account), and the people who may approve beyond it."""

    account_id: str
    max_ttl: timedelta
    allowed_regions: tuple[str, ...]
    auto_approve: tuple[AutoApproveRule, ...] = ()
    action_denylist: tuple[str, ...] = ()
    approvers: tuple[str, ...] = field(default_factory=tuple)
    approval_rules: tuple[ApprovalRule, ...] = ()

    # What ``policy.compiled`` compiles: IAM action names are ``service:Action``.
    service_separator: ClassVar[str] = ":"

    @property
    def denylist(self) -> tuple[str, ...]:
        return self.action_denylist

    @property
    def target(self) -> str:
        return self.account_id
