"""Syntax of the identifiers broker.yaml names.

Checked at load time so that a typo fails when the operator starts the broker, not when an
agent first asks for credentials. Each check raises ``ValueError`` with a message that says
what was expected; pydantic turns it into a located problem. Account ids, regions, actions
and ARNs follow ``domain.grammar``, the grammar the API, the MCP tools and the engine use.
"""

from __future__ import annotations

import re
from typing import Any

from cloud_broker.domain import grammar
from cloud_broker.domain.limits import MAX_RESOURCE_LENGTH

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# Approvers may be people, so e-mail-like names are allowed.
_APPROVER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}")
_EXTERNAL_ID = re.compile(r"[A-Za-z0-9+=,.@:/_-]{2,1224}")


def name(value: str) -> str:
    """Names end up in session names and tags, whose character set is narrow."""
    if not _NAME.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a valid name: use at most 64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return value


def approver(value: str) -> str:
    if not _APPROVER.fullmatch(value):
        raise ValueError(f"{value!r} is not a valid approver name: use letters, digits and . _ @ + -")
    return value


def agent_id(value: str) -> str:
    """Canonical lower-case form, so that lookups can ignore the case the caller used."""
    if not grammar.is_uuid(value):
        raise ValueError(f"{value!r} is not a UUID such as '0b4e2c1a-6f3d-4a8e-9c57-2d1f0e9b7a63'")
    return value.lower()


def account_id_input(value: Any) -> Any:
    """Runs before type checks: YAML turns unquoted digits into an int and drops leading zeros."""
    if isinstance(value, int) and not isinstance(value, bool):
        raise ValueError(
            "the account id must be a quoted string such as '123456789012': unquoted, YAML reads it "
            "as a number (dropping leading zeros); put it in quotes"
        )
    return value


def account_id(value: str) -> str:
    if not grammar.is_account_id(value):
        raise ValueError(f"{value!r} is not an AWS account id: expected exactly 12 digits")
    return value


def region(value: str) -> str:
    problem = grammar.region_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def action_pattern(value: str) -> str:
    if not grammar.is_action(value):
        raise ValueError(
            f"{value!r} is not an action pattern: expected 'service:Action' such as 's3:GetObject' "
            "(wildcards * and ? are allowed in the action part)"
        )
    return value


def role_account(value: str) -> str:
    """The account id inside a role ARN; the ARN is assumed valid (see ``role_arn``)."""
    return grammar.role_account(value) if grammar.role_arn_problem(value) is None else ""


def role_arn(value: str) -> str:
    problem = grammar.role_arn_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def external_id(value: str) -> str:
    if not _EXTERNAL_ID.fullmatch(value):
        raise ValueError("the external id must be 2 to 1224 characters from letters, digits and + = , . @ : / _ -")
    return value


def arn_pattern(value: str) -> str:
    """``*`` or an ARN whose parts may hold wildcards, in the ``aws`` partition."""
    if len(value) > MAX_RESOURCE_LENGTH:
        raise ValueError(f"a resource pattern has at most {MAX_RESOURCE_LENGTH} characters")
    problem = grammar.arn_pattern_problem(value)
    if problem:
        raise ValueError(
            f"{value!r} is not a resource pattern: {problem} (for example 'arn:aws:s3:::reports/*')"
        )
    return value


_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]{0,127}")
_SLACK_ID = re.compile(r"[A-Z0-9]{2,32}")


def env_name(value: str) -> str:
    if not _ENV_NAME.fullmatch(value):
        raise ValueError(f"{value!r} is not an environment variable name (upper case, digits, '_')")
    return value


def http_url(value: str) -> str:
    """http(s) only, with a host; anything else is a typo or an attempt to reach a local file."""
    from urllib.parse import urlsplit

    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an http(s) URL")
    return value


def slack_id(value: str) -> str:
    if not _SLACK_ID.fullmatch(value):
        raise ValueError(f"{value!r} is not a Slack id such as 'C0123ABCD' or 'U0123ABCD'")
    return value


def argon2_hash(value: str) -> str:
    if not value.startswith("$argon2id$"):
        raise ValueError("password_hash must be an argon2id hash: make one with `cloud-broker approvers hash-password`")
    return value


def access_level(value: str) -> str:
    from cloud_broker.policy.risk import ACCESS_LEVELS

    for level in ACCESS_LEVELS:
        if value.lower() == level.lower():
            return level
    raise ValueError(f"{value!r} is not an IAM access level (one of {', '.join(ACCESS_LEVELS)})")
