"""The risk summary of a GCP request (``policy.risk``), from the permission catalogue.

Levels come from each permission's verb (``families.gcp.sensitivity``); sensitive permissions
are named with why (``*.setIamPolicy``, impersonation, ``iam.*``, ``resourcemanager.*``, …).
For a Cloud Storage grant the summary counts what the token will *effectively* carry (every
storage permission of the boundary's roles) and says so; elsewhere it says that only the
service account's bindings bound the token.
"""

from __future__ import annotations

from collections import Counter

from cloud_broker.families.gcp.catalogue import GcpCatalogue
from cloud_broker.families.gcp.decide import ACCESS_BOUNDARY, Enforcement
from cloud_broker.families.gcp.request import GcpAccessRequest
from cloud_broker.families.gcp.sensitivity import ACCESS_ORDER, AccessLevel, sensitive
from cloud_broker.policy.patterns import has_glob
from cloud_broker.policy.risk import ActionRisk, RiskSummary

LEVELS = tuple(level.value for level in ACCESS_ORDER)
WRITE_LEVELS = frozenset({AccessLevel.WRITE.value, AccessLevel.ADMIN.value, AccessLevel.PERMISSIONS.value})


def assess(request: GcpAccessRequest, catalogue: GcpCatalogue) -> RiskSummary:
    """The summary for a request; unknown permissions (which the engine refuses) count as none."""
    rows = tuple(_row(permission, catalogue) for permission in request.permissions)
    asked = frozenset().union(*(catalogue.expand(p) for p in request.permissions))
    enforced = _enforcement(request, catalogue)
    counted = enforced.effective if enforced is not None and enforced.effective else asked
    counts = Counter(catalogue.access_level(p).value for p in counted)
    reasons = sensitive(counted)
    return RiskSummary(
        actions=rows,
        level_counts={level: counts[level] for level in LEVELS if counts[level]},
        wildcard_actions=tuple(row.requested for row in rows if row.wildcard),
        wildcard_resources=tuple(r for r in request.resources if has_glob(r)),
        sensitive=tuple(reasons),
        sensitive_reasons=reasons,
        levels=LEVELS,
        write_levels=WRITE_LEVELS,
        notes=_notes(enforced, asked),
    )


def _enforcement(request: GcpAccessRequest, catalogue: GcpCatalogue) -> Enforcement | None:
    from cloud_broker.families.gcp.effective import enforced

    return enforced({"permissions": request.permissions, "resources": request.resources}, catalogue)


def _notes(enforced: Enforcement | None, asked: frozenset[str]) -> tuple[str, ...]:
    if enforced is None:
        return ("no access boundary can express this scope; it cannot be minted as asked",)
    if enforced.enforced_by != ACCESS_BOUNDARY:
        return ("enforced by the service account's IAM bindings: no access boundary exists outside Cloud Storage, "
                "so the token carries every permission the ceiling's service account is granted",)
    notes = [f"enforced by a Credential Access Boundary with role(s) {', '.join(enforced.roles)}"]
    extra = sorted(enforced.effective - asked)
    if extra:
        notes.append(f"the roles also grant {', '.join(extra)} (beyond what was asked)")
    if enforced.boundary is not None and enforced.boundary.widened:
        notes.append(f"listing opens {', '.join(enforced.boundary.widened)} itself (beyond what was asked)")
    return tuple(notes)


def _row(permission: str, catalogue: GcpCatalogue) -> ActionRisk:
    expanded = catalogue.expand(permission)
    levels = {catalogue.access_level(p).value for p in expanded}
    reasons = sensitive(expanded)
    return ActionRisk(
        requested=permission,
        levels=tuple(level for level in LEVELS if level in levels),
        expands_to=len(expanded),
        wildcard=has_glob(permission),
        sensitive_service=next(iter(reasons), None),
    )
