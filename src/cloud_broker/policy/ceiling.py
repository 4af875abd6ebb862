"""A team's policy ceiling for one AWS account: the most any grant may ever allow."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta


@dataclass(frozen=True)
class AutoApproveRule:
    """Binds action patterns to resource-ARN patterns.

    A requested (action, resource) pair is covered by this rule when the action is matched
    by one of ``actions`` (case-insensitive) and every ARN the requested resource pattern can
    match is matched by one of ``resources``.
    """

    name: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]


@dataclass(frozen=True)
class ApprovalRule:
    """Who must approve a routed request, and how many of them, when the rule applies.

    The rule applies when any requested action matches one of ``actions`` or has one of
    ``access_levels`` in the IAM catalogue. Empty ``approvers`` means the ceiling's own.
    """

    name: str
    actions: tuple[str, ...] = ()
    access_levels: tuple[str, ...] = ()
    approvers: tuple[str, ...] = ()
    required_approvals: int = 1


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
