"""Who may approve a routed request, and how many distinct approvals it needs.

Pure: the ceiling and the family's access levels in, a requirement out. Rules only ever
tighten: each rule that applies narrows the set of approvers to those it lists and can raise
the count, so adding a rule can never let someone approve who could not before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from cloud_broker.policy.patterns import intersects
from cloud_broker.policy.rules import ApprovalRule, FamilyCeiling

LevelsOf = Callable[[str], Iterable[str]]
"""The access levels the family's catalogue gives every concrete action a pattern reaches."""


@dataclass(frozen=True)
class ApprovalRequirement:
    approvers: frozenset[str]
    required: int
    rules: tuple[str, ...] = ()

    def allows(self, approver: str) -> bool:
        return approver in self.approvers


NOBODY = ApprovalRequirement(approvers=frozenset(), required=1)


def approval_requirement(actions: Iterable[str], ceiling: FamilyCeiling, levels_of: LevelsOf) -> ApprovalRequirement:
    """The requirement for a request of ``actions`` (patterns as requested) under ``ceiling``."""
    actions = tuple(actions)
    approvers = frozenset(ceiling.approvers)
    required, names = 1, []
    for rule in ceiling.approval_rules:
        if not _applies(rule, actions, levels_of):
            continue
        names.append(rule.name)
        required = max(required, rule.required_approvals)
        if rule.approvers:
            approvers &= frozenset(rule.approvers)
    return ApprovalRequirement(approvers=approvers, required=required, rules=tuple(names))


def _applies(rule: ApprovalRule, actions: tuple[str, ...], levels_of: LevelsOf) -> bool:
    if any(intersects(pattern, action, ignore_case=True) for pattern in rule.actions for action in actions):
        return True
    if not rule.access_levels:
        return False
    levels = {level.lower() for level in rule.access_levels}
    return any(level.lower() in levels for action in actions for level in levels_of(action))
