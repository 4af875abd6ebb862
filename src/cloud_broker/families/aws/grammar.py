"""The grammar of every AWS identifier the broker reads, defined once.

broker.yaml, the HTTP API, the MCP tools and the policy engine all check shapes with these
definitions, so a value one of them accepts is never refused by another for its spelling, and
a typo fails where the operator or the agent wrote it.

Only the ``aws`` partition is supported. ARNs of ``aws-cn``, ``aws-us-gov`` and the isolated
partitions, and regions that belong to them, are refused in broker.yaml with the same message
the engine gives a request for them: a broker in one partition has no credentials for another.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from cloud_broker.domain.limits import MAX_ACTION_NAME_LENGTH, MAX_SERVICE_LENGTH

ACCOUNT_ID_PATTERN = r"^[0-9]{12}$"
REGION_PATTERN = r"^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$"
# Syntax only: whether an action exists is the catalogue's call. No wildcard in the service.
ACTION_PATTERN = rf"^[a-zA-Z0-9-]{{1,{MAX_SERVICE_LENGTH}}}:[a-zA-Z0-9*?]{{1,{MAX_ACTION_NAME_LENGTH}}}$"
# Six colon-separated segments (the last may hold more colons), or ``*``; no whitespace.
RESOURCE_PATTERN = r"^(\*|arn:[^\s:]*:[^\s:]*:[^\s:]*:[^\s:]*:[^\s]+)$"
SERVICE_PATTERN = r"^[a-z0-9*?-]+$"

PARTITION = "aws"
_OTHER_PARTITIONS = {
    "aws-cn": "China",
    "aws-us-gov": "GovCloud (US)",
    "aws-iso": "US ISO",
    "aws-iso-b": "US ISOB",
    "aws-iso-e": "EU ISOE",
    "aws-iso-f": "US ISOF",
    "aws-eusc": "European Sovereign Cloud",
}
# Region prefixes of the other partitions (cn-north-1, us-gov-west-1, us-iso-east-1, …).
_FOREIGN_REGION = re.compile(r"^(cn-|us-gov-|us-iso|eu-iso|eusc-)")

_ACCOUNT_ID = re.compile(ACCOUNT_ID_PATTERN)
_REGION = re.compile(REGION_PATTERN)
_ACTION = re.compile(ACTION_PATTERN)
_SERVICE = re.compile(SERVICE_PATTERN)
_SPACE = re.compile(r"\s")  # str.isspace's set, searched in C
_ROLE_NAME = re.compile(r"^role/[A-Za-z0-9+=,.@_/-]{1,576}$")


def is_account_id(value: str) -> bool:
    return bool(_ACCOUNT_ID.fullmatch(value))


def is_action(value: str) -> bool:
    return bool(_ACTION.fullmatch(value))


def is_service(value: str) -> bool:
    """A service segment of an ARN: lower-case letters, digits, ``-``, and wildcards."""
    return bool(_SERVICE.fullmatch(value))


def partition_problem(partition: str) -> str | None:
    """Why an ARN's partition is refused, or None for ``aws``."""
    if partition == PARTITION:
        return None
    if partition in _OTHER_PARTITIONS:
        return (f"partition {partition!r} ({_OTHER_PARTITIONS[partition]}) is not supported: "
                f"cloud-broker serves the {PARTITION!r} partition only")
    return f"partition {partition!r} is not {PARTITION!r}"


def region_problem(region: str) -> str | None:
    """Why ``region`` is not an AWS region of the supported partition, or None."""
    if not _REGION.fullmatch(region):
        return f"{region!r} is not an AWS region such as 'us-east-1'"
    if _FOREIGN_REGION.match(region):
        return (f"region {region!r} belongs to another partition than {PARTITION!r}, "
                "which cloud-broker does not support")
    return None


def role_arn_problem(arn: str) -> str | None:
    """Why ``arn`` is not an IAM role ARN of the supported partition, or None."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "iam" or parts[3] != "":
        return f"{arn!r} is not an IAM role ARN such as 'arn:aws:iam::123456789012:role/cloud-broker-agent'"
    partition = partition_problem(parts[1])
    if partition is not None:
        return partition
    if not _ACCOUNT_ID.fullmatch(parts[4]) or not _ROLE_NAME.fullmatch(parts[5]):
        return f"{arn!r} is not an IAM role ARN such as 'arn:aws:iam::123456789012:role/cloud-broker-agent'"
    return None


def role_account(arn: str) -> str:
    """The account id inside a role ARN that ``role_arn_problem`` accepted."""
    return arn.split(":", 5)[4]


_ARN_SHAPE = "must be '*' or arn:aws:<service>:<region>:<account>:<resource>"


def arn_pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` is not a resource pattern (``*`` or an ARN whose segments may hold
    wildcards) of the supported partition, or None. The account segment may be empty, twelve
    digits, ``aws`` (AWS-managed resources) or a glob; whether it names the right account is
    the caller's question."""
    if pattern == "*":
        return None
    if not pattern.isprintable() or _SPACE.search(pattern):
        return "contains whitespace or control characters"
    parts = pattern.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        return _ARN_SHAPE
    _arn, partition, service, region, account, rest = parts
    return (
        partition_problem(partition)
        or (None if is_service(service) else f"service segment {service!r} is not a service prefix")
        or _segment_problem("region", region, lambda r: region_problem(r) is None)
        or _segment_problem("account", account, lambda a: a == "aws" or is_account_id(a))
        or (None if rest else "resource segment is empty")
    )


def _segment_problem(name: str, text: str, valid: Callable[[str], bool]) -> str | None:
    if not text or "*" in text or "?" in text or valid(text):
        return None
    if name == "region" and region_problem(text) is not None and _REGION.fullmatch(text):
        return region_problem(text)
    return f"{name} segment {text!r} is neither empty, a wildcard nor a valid {name}"
