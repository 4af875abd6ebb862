"""The risk summary of an AWS request (``policy.risk``), from the IAM catalogue.

Derived from the IAM catalogue, not from anything the agent wrote: the access level of every
action (wildcards expanded), wildcard use, and services where a grant reaches beyond one
resource's data (identity, keys, the organisation itself).
"""

from __future__ import annotations

from collections import Counter

from cloud_broker.families.aws.catalogue import Catalogue
from cloud_broker.policy.risk import ActionRisk, RiskSummary

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
        sensitive_reasons={s: SENSITIVE_SERVICES[s] for s in sensitive},
        levels=ACCESS_LEVELS,
        write_levels=WRITE_LEVELS,
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
