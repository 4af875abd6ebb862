"""The outcome of the policy engine and its explanation."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Outcome(StrEnum):
    AUTO_APPROVE = "auto_approve"
    ROUTE_TO_APPROVER = "route_to_approver"
    HARD_DENY = "hard_deny"


@dataclass(frozen=True)
class Pair:
    """One (concrete action, requested resource pattern) pair, with the rule that covers it."""

    action: str
    resource: str
    rule: str | None = None


@dataclass(frozen=True)
class Decision:
    """Exactly one outcome; ``reason`` is None only for auto_approve and names the offending item otherwise.

    ``covered`` lists each pair with its covering rule, ``uncovered`` the pairs no single rule
    covers, ``not_applicable`` the pairs that grant nothing in AWS (the action cannot apply to
    that resource type) and so need no coverage. ``suggestions`` maps unknown action names to
    the nearest valid ones.
    """

    outcome: Outcome
    reason: str | None
    covered: tuple[Pair, ...] = ()
    uncovered: tuple[Pair, ...] = ()
    not_applicable: tuple[Pair, ...] = ()
    suggestions: dict[str, list[str]] = field(default_factory=dict)

    def explanation(self) -> dict[str, Any]:
        """The explanation block of the wire reply."""
        return {
            "covered": [{"action": p.action, "resource": p.resource, "rule": p.rule} for p in self.covered],
            "uncovered": [{"action": p.action, "resource": p.resource} for p in self.uncovered],
            "not_applicable": [{"action": p.action, "resource": p.resource} for p in self.not_applicable],
            "suggestions": self.suggestions,
        }
