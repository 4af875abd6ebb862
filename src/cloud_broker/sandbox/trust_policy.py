"""Deciding a role's trust policy as AWS does, for AssumeRole and what rides on it.

moto's own check (``IAMRequestBase._check_role_trust_relationship``) matches principals only
literally and evaluates ``StringEquals`` alone, treating a condition whose key the request
lacks as satisfied: a trust policy requiring ``sts:ExternalId`` let a caller without one in.
The broker's enrolment relies on that condition, so the emulator decides trust policies with
the same exact condition evaluator as identity policies
(:mod:`cloud_broker.sandbox.conditions`): an absent key fails ``StringEquals``, unknown keys
fail closed, an explicit ``Deny`` wins.

Principals: ``"*"``, an ARN (a role's ARN also trusts that role's sessions, as in AWS), an
account root or bare account id (any principal of that account). Narrower than AWS:
``Service`` and ``Federated`` principals never match (nothing in the emulator calls as a
service or a federated user), and a role's unique-id principal (``AROA…``) is not recognised.

Condition keys known here: ``sts:ExternalId``, ``sts:RoleSessionName``, ``sts:SourceIdentity``
(the identity the new session will carry), ``aws:SourceIdentity`` (the caller's),
``aws:PrincipalArn``, ``aws:PrincipalAccount``, ``aws:PrincipalType``, ``aws:CurrentTime``
and ``aws:EpochTime``. Any other key is unknown.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from cloud_broker.sandbox.conditions import ConditionValues, evaluate_condition_block, glob_matches


def trust_allows(document: str | Mapping[str, Any], action: str, callers: Sequence[str],
                 values: ConditionValues) -> bool:
    """Whether the trust policy ``document`` lets a caller known by ``callers`` (its ARNs,
    most specific first) perform ``action`` (``sts:AssumeRole``, ``sts:TagSession`` …)."""
    try:
        policy = json.loads(document) if isinstance(document, str) else document
        statements = policy["Statement"]
    except (ValueError, KeyError, TypeError):
        return False
    allowed = False
    for statement in statements if isinstance(statements, list) else [statements]:
        if not _applies(statement, action, callers):
            continue
        truth = evaluate_condition_block(statement.get("Condition"), values)
        if statement.get("Effect") == "Deny" and truth is not False:
            return False
        allowed = allowed or (statement.get("Effect") == "Allow" and truth is True)
    return allowed


def _applies(statement: Mapping[str, Any], action: str, callers: Sequence[str]) -> bool:
    key = "Action" if "Action" in statement else "NotAction"
    patterns = statement.get(key, [])
    patterns = patterns if isinstance(patterns, list) else [patterns]
    matched = any(glob_matches(str(p), action, ignore_case=True) for p in patterns)
    if matched != (key == "Action"):
        return False
    return _principal_matches(statement.get("Principal"), callers)


def _principal_matches(principal: Any, callers: Sequence[str]) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, Mapping):
        return False
    named = principal.get("AWS", [])
    for entry in named if isinstance(named, list) else [named]:
        if entry == "*" or entry in callers:
            return True
        if any(_account_root(entry) == _account_of(caller) for caller in callers):
            return True
    return False


def _account_root(entry: str) -> str | None:
    if entry.isdigit() and len(entry) == 12:
        return entry
    parts = entry.split(":")
    return parts[4] if len(parts) == 6 and parts[2] == "iam" and parts[5] == "root" else None


def _account_of(arn: str) -> str | None:
    parts = arn.split(":")
    return parts[4] if len(parts) >= 6 else None
