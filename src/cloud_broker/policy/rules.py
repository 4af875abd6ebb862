"""The rules every family's ceiling is made of: what auto-approves, and who must approve.

An action here is whatever the family's vocabulary calls it (an IAM action such as
``s3:GetObject``, a GCP permission such as ``storage.objects.get``); a resource is an ARN or a
full resource name. Coverage is decided by ``policy.patterns`` for all of them alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol


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
    ``access_levels`` in the family's catalogue. Empty ``approvers`` means the ceiling's own.
    """

    name: str
    actions: tuple[str, ...] = ()
    access_levels: tuple[str, ...] = ()
    approvers: tuple[str, ...] = ()
    required_approvals: int = 1


class FamilyCeiling(Protocol):
    """What the shared layers read of any family's ceiling; the rest is the family's engine's."""

    @property
    def target(self) -> str: ...

    @property
    def max_ttl(self) -> timedelta: ...

    @property
    def approvers(self) -> tuple[str, ...]: ...

    @property
    def approval_rules(self) -> tuple[ApprovalRule, ...]: ...
