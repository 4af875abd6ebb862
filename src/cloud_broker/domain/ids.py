"""Identifier formats shared by the wire and the store."""

from __future__ import annotations

import re
import uuid

# Lenient UUID as the published client validates it: hex 8-4-4-4-12, any version, nil allowed.
UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
ACCOUNT_ID_PATTERN = r"^[0-9]{12}$"
REGION_PATTERN = r"^[a-z]{2}(-[a-z]+)+-[0-9]+$"

_UUID = re.compile(UUID_PATTERN)


def is_uuid(value: str) -> bool:
    return bool(_UUID.match(value))


def canonical_uuid(value: str) -> str:
    """Lower-case form, so that ``ABC…`` and ``abc…`` name the same agent, run or grant."""
    return value.lower()


def new_grant_id() -> str:
    return str(uuid.uuid4())


def session_name(grant_id: str) -> str:
    """The STS RoleSessionName for a grant: recognisable in CloudTrail, within STS's 64 chars."""
    return f"cb-{grant_id}"
