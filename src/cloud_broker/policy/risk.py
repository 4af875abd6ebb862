"""What an approver should look at first: the risk summary of a request.

Derived from the IAM catalogue, not from anything the agent wrote: the access level of every
action (wildcards expanded), wildcard use, and services where a grant reaches beyond one
resource's data (identity, keys, the organisation itself).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from cloud_broker.policy.catalogue import Catalogue

# Services whose actions change who can do what, or guard every other secret.
SENSITIVE_SERVICES: dict[str, str] = {
    "iam": "identity and access management",
    "sts": "temporary credentials",
    "kms": "encryption keys",
    "organizations": "the AWS organisation",
    "secretsmanager": "stored secrets",
    "ssm": "parameters and remote commands",
    "account": "account settings",
    "sso": "single sign-on",
    "identitystore": "the identity store",
    "cloudtrail": "the audit trail",
}

# Ordered from least to most consequential; the summary's level is the highest present.
ACCESS_LEVELS = ("List", "Read", "Tagging", "Write", "Permissions management")
WRITE_LEVELS = frozenset({"Write", "Permissions management", "Tagging"})


@dataclass(frozen=True)
class ActionRisk:
    """One requested action (as written) and what it expands to in the catalogue."""

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

    @property
    def highest_level(self) -> str | None:
        present = [level for level in ACCESS_LEVELS if self.level_counts.get(level)]
        return present[-1] if present else None

    @property
    def writes(self) -> bool:
        return any(self.level_counts.get(level) for level in WRITE_LEVELS)

    def headline(self) -> str:
        """One line for a chat message or a list row."""
        parts = [f"highest access level: {self.highest_level or 'none'}"]
        if self.wildcard_actions or self.wildcard_resources:
            parts.append("wildcards")
        if self.sensitive:
            parts.append("sensitive: " + ", ".join(self.sensitive))
        return "; ".join(parts)


def assess(actions: tuple[str, ...], resources: tuple[str, ...], catalogue: Catalogue) -> RiskSummary:
    """The summary for a request; unknown actions (which the engine refuses anyway) count as none."""
    rows = tuple(_action_risk(action, catalogue) for action in actions)
    counts: Counter[str] = Counter()
    for action in actions:
        counts.update(catalogue.access_level(concrete) for concrete in catalogue.expand(action))
    sensitive = sorted({row.sensitive_service for row in rows if row.sensitive_service})
    return RiskSummary(
        actions=rows,
        level_counts={level: counts[level] for level in ACCESS_LEVELS if counts[level]},
        wildcard_actions=tuple(row.requested for row in rows if row.wildcard),
        wildcard_resources=tuple(r for r in resources if "*" in r or "?" in r),
        sensitive=tuple(sensitive),
    )


def _action_risk(action: str, catalogue: Catalogue) -> ActionRisk:
    expanded = catalogue.expand(action)
    levels = {catalogue.access_level(concrete) for concrete in expanded}
    prefix = action.split(":", 1)[0].lower()
    return ActionRisk(
        requested=action,
        levels=tuple(level for level in ACCESS_LEVELS if level in levels),
        expands_to=len(expanded),
        wildcard="*" in action or "?" in action,
        sensitive_service=prefix if prefix in SENSITIVE_SERVICES else None,
    )
