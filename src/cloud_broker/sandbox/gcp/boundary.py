"""Credential Access Boundaries: parsed and checked as Google's STS does, then applied.

A boundary is a list of rules; a downscoped token may use a permission on a Cloud Storage
resource only if some rule names that resource's bucket, lists a role holding the
permission, and has no condition or a condition that holds for the request. The
boundary only ever removes permissions: IAM must still grant them (see
:mod:`~cloud_broker.sandbox.gcp.authorization`).

Checked on exchange, as Google documents: 1 to 10 rules; ``availablePermissions`` is a
non-empty list of ``inRole:roles/...`` entries naming predefined roles (the double's
:mod:`~cloud_broker.sandbox.gcp.roles`; custom roles are refused here, unlike Google);
``availableResource`` is a bucket, ``//storage.googleapis.com/projects/_/buckets/NAME``;
``availabilityCondition`` has an ``expression`` (see
:mod:`~cloud_broker.sandbox.gcp.conditions`) and optional ``title`` and ``description``.
Unknown fields are refused, as Google's JSON parser refuses them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from cloud_broker.sandbox.gcp.conditions import Condition, InvalidCondition, RequestAttributes
from cloud_broker.sandbox.gcp.roles import is_known_role, permissions_of

MAX_RULES = 10
_BUCKET_RESOURCE = re.compile(r"//storage\.googleapis\.com/projects/_/buckets/([a-z0-9][a-z0-9._-]{1,220}[a-z0-9])")
_ROLE_PREFIX = "inRole:"
_RULE_FIELDS = frozenset({"availablePermissions", "availableResource", "availabilityCondition"})
_CONDITION_FIELDS = frozenset({"expression", "title", "description"})


class InvalidBoundary(ValueError):
    """The boundary would be refused by STS; the message says which part and why."""


@dataclass(frozen=True)
class BoundaryRule:
    bucket: str
    roles: tuple[str, ...]
    condition: Condition | None

    def allows(self, permission: str, bucket: str, attributes: RequestAttributes) -> bool:
        if bucket != self.bucket or not any(permission in permissions_of(role) for role in self.roles):
            return False
        return self.condition is None or self.condition.holds(attributes)


@dataclass(frozen=True)
class AccessBoundary:
    rules: tuple[BoundaryRule, ...]

    def allows(self, permission: str, bucket: str, attributes: RequestAttributes) -> bool:
        """Whether some rule makes ``permission`` available for this request."""
        return any(rule.allows(permission, bucket, attributes) for rule in self.rules)


def parse_boundary(options: Any) -> AccessBoundary:
    """The boundary in STS ``options`` (already JSON-decoded); raises InvalidBoundary."""
    if not isinstance(options, dict) or set(options) != {"accessBoundary"}:
        raise InvalidBoundary("options must hold exactly one field, accessBoundary")
    boundary = options["accessBoundary"]
    if not isinstance(boundary, dict) or set(boundary) != {"accessBoundaryRules"}:
        raise InvalidBoundary("accessBoundary must hold exactly one field, accessBoundaryRules")
    rules = boundary["accessBoundaryRules"]
    if not isinstance(rules, list) or not 1 <= len(rules) <= MAX_RULES:
        raise InvalidBoundary(f"accessBoundaryRules must hold between 1 and {MAX_RULES} rules")
    return AccessBoundary(tuple(_parse_rule(i, rule) for i, rule in enumerate(rules)))


def _parse_rule(index: int, rule: Any) -> BoundaryRule:
    where = f"accessBoundaryRules[{index}]"
    if not isinstance(rule, dict) or not set(rule) <= _RULE_FIELDS:
        raise InvalidBoundary(f"{where} must be an object with only {sorted(_RULE_FIELDS)}")
    resource = rule.get("availableResource")
    match = _BUCKET_RESOURCE.fullmatch(resource) if isinstance(resource, str) else None
    if match is None:
        raise InvalidBoundary(f"{where}.availableResource must be a Cloud Storage bucket, "
                              "//storage.googleapis.com/projects/_/buckets/NAME")
    roles = _parse_roles(where, rule.get("availablePermissions"))
    condition = _parse_condition(where, rule.get("availabilityCondition"))
    return BoundaryRule(bucket=match.group(1), roles=roles, condition=condition)


def _parse_roles(where: str, permissions: Any) -> tuple[str, ...]:
    if not isinstance(permissions, list) or not permissions:
        raise InvalidBoundary(f"{where}.availablePermissions must be a non-empty list")
    roles = []
    for entry in permissions:
        if not isinstance(entry, str) or not entry.startswith(_ROLE_PREFIX):
            raise InvalidBoundary(f"{where}.availablePermissions entries must be of the form inRole:ROLE")
        role = entry.removeprefix(_ROLE_PREFIX)
        if not is_known_role(role):
            raise InvalidBoundary(f"{where}.availablePermissions names a role the double does not know")
        roles.append(role)
    return tuple(roles)


def _parse_condition(where: str, condition: Any) -> Condition | None:
    if condition is None:
        return None
    if not isinstance(condition, dict) or not set(condition) <= _CONDITION_FIELDS:
        raise InvalidBoundary(f"{where}.availabilityCondition must be an object with only {sorted(_CONDITION_FIELDS)}")
    if not all(isinstance(condition.get(k, ""), str) for k in _CONDITION_FIELDS):
        raise InvalidBoundary(f"{where}.availabilityCondition fields must be strings")
    try:
        return Condition(condition.get("expression", ""))
    except InvalidCondition as exc:
        raise InvalidBoundary(f"{where}.availabilityCondition: {exc}") from exc

