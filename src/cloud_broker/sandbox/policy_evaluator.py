"""A small, exact evaluator of identity and session policies, for the emulator.

moto collects only a role's own policies and never evaluates the AssumeRole session
``Policy``; its statement matcher also turns a failed condition on an ``Allow`` into
a ``Deny``. The broker narrows every grant with a session policy, so the sandbox must
evaluate it as AWS does -- the effective permission of a role session is the
intersection of the role's policies and the session policy, and an explicit ``Deny``
in either wins. This module is that evaluation, pure and without moto.

What it cannot decide it refuses (fail closed): a malformed policy (AWS would have
rejected it at AssumeRole, so the session would not exist) denies; an unsupported
condition operator or unknown condition key makes an ``Allow`` not allow and a
``Deny`` deny; an unknown resource (moto passes ``"*"`` for services whose resource
it does not compute) is matched only by a ``Resource`` that matches everything.

Narrower than AWS: policy variables (``${aws:username}`` and the like, honoured in
``Version: 2012-10-17`` documents) are not substituted. A statement whose resource
patterns or condition values use one cannot be decided, so it fails closed as above
(compared literally it would silently spare a ``Deny`` such as
``arn:aws:s3:::home/${aws:userid}/*``). Resource-based, permissions-boundary and
organization policies are not part of this evaluation.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from cloud_broker.sandbox.conditions import (
    ConditionValues,
    Truth,
    evaluate_condition_block,
    glob_matches,
    kleene_and,
)

_VARIABLES_VERSION = "2012-10-17"  # the 2008-10-17 grammar reads "${...}" literally
_STATEMENT_KEYS = frozenset({"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"})


class Decision(Enum):
    """What one statement, one policy or a set of policies says about a request."""

    ALLOW = "allow"
    DENY = "deny"  # explicit
    NOT_APPLICABLE = "not_applicable"  # nothing matched: an implicit deny


@dataclass(frozen=True)
class Request:
    """The part of a request that policies are evaluated against.

    ``resource`` is the ARN, or ``None`` when the emulator does not know it.
    ``condition_values`` follows :mod:`cloud_broker.sandbox.conditions`: lower-cased
    keys; ``None`` marks a key known to be absent; a missing key is unknown.
    """

    action: str
    resource: str | None
    condition_values: ConditionValues = field(default_factory=dict)


class MalformedPolicy(ValueError):
    """The document is not an IAM policy AWS would accept."""


def is_allowed(
    request: Request,
    identity_policies: Sequence[str | Mapping[str, Any]],
    session_policy: str | Mapping[str, Any] | None,
) -> bool:
    """Decide a role session's request: identity AND (if present) session policy.

    As in AWS, the request is allowed only if the role's policies allow it and the
    session policy (when the session was created with one) allows it; an explicit
    ``Deny`` in any of them denies.
    """
    identity = combine(evaluate_policy(policy, request) for policy in identity_policies)
    if session_policy is None:
        return identity is Decision.ALLOW
    session = evaluate_policy(session_policy, request)
    return identity is Decision.ALLOW and session is Decision.ALLOW


def combine(decisions: Iterable[Decision]) -> Decision:
    """Any explicit Deny wins; otherwise any Allow allows; otherwise not applicable."""
    result = Decision.NOT_APPLICABLE
    for decision in decisions:
        if decision is Decision.DENY:
            return Decision.DENY
        if decision is Decision.ALLOW:
            result = Decision.ALLOW
    return result


def evaluate_policy(document: str | Mapping[str, Any], request: Request) -> Decision:
    """Evaluate one policy document (JSON text or parsed); malformed means Deny."""
    try:
        policy = _load(document)
        statements = parse_statements(policy)
    except MalformedPolicy:
        return Decision.DENY
    variables = policy.get("Version") == _VARIABLES_VERSION
    return combine(evaluate_statement(statement, request, variables=variables) for statement in statements)


def parse_statements(document: str | Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The statements of a policy, each checked for shape; raises MalformedPolicy."""
    policy = _load(document)
    statements = policy.get("Statement")
    if isinstance(statements, Mapping):
        statements = [statements]
    if not isinstance(statements, list) or not statements:
        raise MalformedPolicy("Statement must be an object or a non-empty list")
    for statement in statements:
        _check_statement(statement)
    return statements


def evaluate_statement(
    statement: Mapping[str, Any], request: Request, *, variables: bool = False
) -> Decision:
    """One well-formed statement: Allow only when proven, Deny unless disproven.

    ``variables`` says the policy's version honours policy variables; a statement
    that uses one cannot be decided here (see the module docstring).
    """
    resource: Truth = None
    if not (variables and _uses_variables(statement, "Resource", "NotResource")):
        resource = _resource_matches(statement, request.resource)
    condition: Truth = None
    if not (variables and _uses_variables(statement, "Condition")):
        condition = evaluate_condition_block(statement.get("Condition"), request.condition_values)
    applies = kleene_and([_action_matches(statement, request.action), resource, condition])
    if statement["Effect"] == "Allow":
        return Decision.ALLOW if applies is True else Decision.NOT_APPLICABLE
    return Decision.NOT_APPLICABLE if applies is False else Decision.DENY


def _load(document: str | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError as exc:
            raise MalformedPolicy("policy is not JSON") from exc
    if not isinstance(document, Mapping):
        raise MalformedPolicy("policy must be a JSON object")
    return document


def _check_statement(statement: Any) -> None:
    if not isinstance(statement, Mapping):
        raise MalformedPolicy("a statement must be an object")
    if not set(statement) <= _STATEMENT_KEYS:
        # e.g. Principal: not allowed in identity or session policies.
        raise MalformedPolicy(f"unexpected statement keys {sorted(set(statement) - _STATEMENT_KEYS)}")
    if statement.get("Effect") not in ("Allow", "Deny"):
        raise MalformedPolicy("Effect must be Allow or Deny")
    for positive, negative in (("Action", "NotAction"), ("Resource", "NotResource")):
        if (positive in statement) == (negative in statement):
            raise MalformedPolicy(f"exactly one of {positive} and {negative} is required")
        if _patterns(statement, positive, negative) is None:
            raise MalformedPolicy(f"{positive} must be a string or a list of strings")


def _patterns(statement: Mapping[str, Any], positive: str, negative: str) -> list[str] | None:
    value = statement.get(positive, statement.get(negative))
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(item, str) for item in items):
        return None
    return items


def _action_matches(statement: Mapping[str, Any], action: str) -> bool:
    # Action names are case-insensitive in IAM ("s3:getobject" == "s3:GetObject").
    patterns = _patterns(statement, "Action", "NotAction") or []
    matched = any(glob_matches(pattern, action, ignore_case=True) for pattern in patterns)
    return matched if "Action" in statement else not matched


def _resource_matches(statement: Mapping[str, Any], resource: str | None) -> Truth:
    patterns = _patterns(statement, "Resource", "NotResource") or []
    if resource is None:
        everything = any(set(pattern) == {"*"} for pattern in patterns)
        if "Resource" in statement:
            return True if everything else None
        return False if everything else None
    matched = any(glob_matches(pattern, resource) for pattern in patterns)
    return matched if "Resource" in statement else not matched


def _uses_variables(statement: Mapping[str, Any], *elements: str) -> bool:
    # Variables are substituted in Resource/NotResource and in condition values, not in actions.
    return "${" in json.dumps([statement.get(element) for element in elements])
