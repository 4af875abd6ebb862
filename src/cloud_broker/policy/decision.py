"""The outcome of the policy engine and its explanation."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple

from cloud_broker.domain.limits import EXPLAINED_CHARACTERS, EXPLAINED_PAIRS


class Outcome(StrEnum):
    AUTO_APPROVE = "auto_approve"
    ROUTE_TO_APPROVER = "route_to_approver"
    HARD_DENY = "hard_deny"


class Pair(NamedTuple):
    """One (concrete action, requested resource pattern) pair, with the rule that covers it.
    A tuple, not a dataclass: a broad request makes thousands of them."""

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
    # What the family adds about what will bound the credentials, for the reply and the trail
    # (GCP: ``enforced_by``, the boundary's roles, the effective permissions). Small and fixed.
    facts: dict[str, Any] = field(default_factory=dict)

    def explanation(self, limit: int = EXPLAINED_PAIRS) -> dict[str, Any]:
        """The explanation block of the wire reply and the audit row.

        A request for ``*`` can expand to thousands of pairs, each naming a resource of up to
        2,048 characters; each list is cut at ``limit`` pairs, all lists together at
        ``EXPLAINED_CHARACTERS``, and the full counts are given whenever anything was cut, so a
        reply stays readable and an audit row (which is never deleted) stays small.
        """
        lists = {"covered": self.covered, "uncovered": self.uncovered, "not_applicable": self.not_applicable}
        room = EXPLAINED_CHARACTERS
        block: dict[str, Any] = {}
        for name, pairs in lists.items():
            shown = []
            for pair in pairs[:limit]:
                room -= len(pair.action) + len(pair.resource) + len(pair.rule or "")
                if room < 0:
                    break
                shown.append(_pair_public(pair, with_rule=name == "covered"))
            block[name] = shown
        block["suggestions"] = self.suggestions
        if any(len(block[name]) < len(pairs) for name, pairs in lists.items()):
            block["counts"] = {name: len(pairs) for name, pairs in lists.items()}
        return block


def _pair_public(pair: Pair, *, with_rule: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"action": pair.action, "resource": pair.resource}
    if with_rule:
        body["rule"] = pair.rule
    return body
