"""The GCP family's checks of broker.yaml that span entries, or need the permission catalogue.

Projects are declared once; each ceiling names an enrolled project once per team. Every
permission and pattern must mean something in the catalogue (a typo in a denylist denies
nothing), with the nearest names suggested; and a ceiling's auto-approve rules may only cover
what the ceiling allows at all, so no rule reads as broader than the envelope it sits in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from cloud_broker.config.cross_check import (
    Declared,
    enrolment_problems,
    listed_strings,
    mapping_items,
    valid_items,
)
from cloud_broker.config.problems import Problem
from cloud_broker.config.yaml_source import Loc
from cloud_broker.families.gcp.catalogue import GcpCatalogue
from cloud_broker.families.gcp.config import GcpCeilingConfig
from cloud_broker.families.gcp.grammar import is_permission, is_project_id
from cloud_broker.families.gcp.lookups import CEILINGS, PROJECTS
from cloud_broker.policy.patterns import contains, has_glob

_PERMISSION_LISTS = ("allowed_permissions", "permission_denylist")


def check_gcp_config(data: Mapping[str, Any], declared: Declared) -> list[Problem]:
    return [
        *enrolment_problems(data, PROJECTS, CEILINGS, "project_id", "project", is_project_id),
        *permission_problems(data, GcpCatalogue.default()),
        *_rules_outside_their_ceiling(data),
        *_unbounded_permissions(data, GcpCatalogue.default()),
        *_shared_service_accounts(data),
    ]


def permission_problems(data: Mapping[str, Any], catalogue: GcpCatalogue) -> list[Problem]:
    """Unknown permissions and empty patterns among the well-formed entries."""
    problems = []
    for loc, permission in _permissions(data):
        if is_permission(permission) and not catalogue.expand(permission):
            kind = "permission pattern" if has_glob(permission) else "unknown GCP permission"
            what = "matches no GCP permission" if has_glob(permission) else "is not in the permission catalogue"
            problems.append(Problem(loc, f"{kind} {permission!r} {what}{catalogue.did_you_mean(permission)}"))
    return problems


def _rules_outside_their_ceiling(data: Mapping[str, Any]) -> Iterable[Problem]:
    for index, ceiling in valid_items(data.get(CEILINGS), GcpCeilingConfig):
        for position, rule in enumerate(ceiling.auto_approve):
            loc = (CEILINGS, index, "auto_approve", position)
            for permission in rule.permissions:
                if not any(contains(allowed, permission) for allowed in ceiling.allowed_permissions):
                    yield Problem((*loc, "permissions"), f"{permission!r} is not within the ceiling's allowed_permissions")
            for resource in rule.resources:
                if not any(contains(pattern, resource) for pattern in ceiling.resource_patterns):
                    yield Problem((*loc, "resources"), f"{resource!r} is not within the ceiling's resource_patterns")


def _unbounded_permissions(data: Mapping[str, Any], catalogue: GcpCatalogue) -> Iterable[Problem]:
    """Outside Cloud Storage no access boundary exists: allowing such permissions means tokens
    bounded only by the service account, which the ceiling must say it wants; and no rule can
    ever auto-approve them (a person always decides), so a rule naming them is a mistake."""
    for index, ceiling in valid_items(data.get(CEILINGS), GcpCeilingConfig):
        outside = _outside_storage(ceiling.allowed_permissions, catalogue)
        if outside and not ceiling.allow_service_account_tokens:
            yield Problem((CEILINGS, index, "allowed_permissions"),
                          f"{', '.join(outside)} reach beyond Cloud Storage, where no access boundary exists: such a "
                          "token carries every binding of the service account; set allow_service_account_tokens: true "
                          "to allow that (a person then approves each one), or remove them")
        for position, rule in enumerate(ceiling.auto_approve):
            for permission in _outside_storage(rule.permissions, catalogue):
                yield Problem((CEILINGS, index, "auto_approve", position, "permissions"),
                              f"{permission!r} reaches beyond Cloud Storage: no rule can auto-approve it (a person "
                              "always decides where no access boundary exists)")


def _outside_storage(patterns: Iterable[str], catalogue: GcpCatalogue) -> list[str]:
    return [p for p in patterns if any(not name.startswith("storage.") for name in catalogue.expand(p))]


def _shared_service_accounts(data: Mapping[str, Any]) -> Iterable[Problem]:
    """A service account is one team's: shared, each team's grants would carry the other's bindings."""
    owner: dict[str, str] = {}
    for index, ceiling in valid_items(data.get(CEILINGS), GcpCeilingConfig):
        first = owner.setdefault(ceiling.service_account, ceiling.team)
        if first != ceiling.team:
            yield Problem((CEILINGS, index, "service_account"),
                          f"service account {ceiling.service_account} is already team {first!r}'s: each team needs its "
                          "own, or its grants carry the other team's bindings")


def _permissions(data: Mapping[str, Any]) -> Iterable[tuple[Loc, str]]:
    for index, ceiling in mapping_items(data.get(CEILINGS)):
        for key in _PERMISSION_LISTS:
            yield from listed_strings(ceiling, key, (CEILINGS, index))
        for section in ("auto_approve", "approval_rules"):
            for position, rule in mapping_items(ceiling.get(section)):
                yield from listed_strings(rule, "permissions", (CEILINGS, index, section, position))
