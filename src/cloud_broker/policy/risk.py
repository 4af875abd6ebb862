"""The risk summary an approver reads first, in the same shape for every family.

A family fills it from its own catalogue (IAM access levels for AWS; GCP permission verbs),
never from what the agent wrote: the access level of every action its request can reach,
wildcard use, services whose grants reach beyond one resource's data, and anything that bounds
the credentials differently from what was asked (``notes``).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ActionRisk:
    """One requested action (as written) and what it expands to in the family's catalogue."""

    requested: str
    levels: tuple[str, ...]
    expands_to: int
    wildcard: bool
    sensitive_service: str | None = None


@dataclass(frozen=True)
class RiskSummary:
    actions: tuple[ActionRisk, ...]
    level_counts: dict[str, int] = field(default_factory=dict)
    wildcard_actions: tuple[str, ...] = ()
    wildcard_resources: tuple[str, ...] = ()
    sensitive: tuple[str, ...] = ()
    # Why each sensitive service is, in words ("identity and access management").
    sensitive_reasons: dict[str, str] = field(default_factory=dict)
    # The family's access levels, least consequential first, and those that change something.
    levels: tuple[str, ...] = ()
    write_levels: frozenset[str] = frozenset()
    # What else an approver must know: e.g. that a token grants more than was asked.
    notes: tuple[str, ...] = ()

    @property
    def highest_level(self) -> str | None:
        present = [level for level in self.levels if self.level_counts.get(level)]
        return present[-1] if present else None

    @property
    def writes(self) -> bool:
        return any(self.level_counts.get(level) for level in self.write_levels)

    def headline(self) -> str:
        """One line for a chat message or a list row."""
        parts = [f"highest access level: {self.highest_level or 'none'}"]
        if self.wildcard_actions or self.wildcard_resources:
            parts.append("wildcards")
        if self.sensitive:
            parts.append("sensitive: " + ", ".join(self.sensitive))
        return "; ".join(parts)
