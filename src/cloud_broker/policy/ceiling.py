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
class Ceiling:
    """The envelope for (team, account). ``approvers`` are names; paging comes later."""

    account_id: str
    max_ttl: timedelta
    allowed_regions: tuple[str, ...]
    auto_approve: tuple[AutoApproveRule, ...] = ()
    action_denylist: tuple[str, ...] = ()
    approvers: tuple[str, ...] = field(default_factory=tuple)
