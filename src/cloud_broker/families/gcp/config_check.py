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
    duplicates,
    listed_strings,
    mapping_items,
    raw_items,
    raw_values,
    text,
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
        *duplicates(data, PROJECTS, "project_id"),
        *duplicates(data, CEILINGS, "project_id", _ceiling_key, "ceiling for this team and project"),
        *_unenrolled_projects(data),
        *permission_problems(data, GcpCatalogue.default()),
        *_rules_outside_their_ceiling(data),
    ]


def _ceiling_key(item: Mapping[str, Any]) -> tuple[str, str] | None:
    team, project = text(item, "team"), text(item, "project_id")
    return (team, project) if team and project else None


def _unenrolled_projects(data: Mapping[str, Any]) -> Iterable[Problem]:
    projects = raw_values(data, PROJECTS, "project_id")
    for index, item in raw_items(data, CEILINGS):
        value = text(item, "project_id")
        if is_project_id(value) and value not in projects:
            yield Problem((CEILINGS, index, "project_id"), f"project {value} is not enrolled: add it under {PROJECTS} first")


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


def _permissions(data: Mapping[str, Any]) -> Iterable[tuple[Loc, str]]:
    for index, ceiling in mapping_items(data.get(CEILINGS)):
        for key in _PERMISSION_LISTS:
            yield from listed_strings(ceiling, key, (CEILINGS, index))
        for section in ("auto_approve", "approval_rules"):
            for position, rule in mapping_items(ceiling.get(section)):
                yield from listed_strings(rule, "permissions", (CEILINGS, index, section, position))
