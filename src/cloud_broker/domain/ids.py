"""Identifiers the broker makes: grant ids, session names, the canonical form of UUIDs.
(The UUID grammar is ``domain.grammar``; each family has its own identifiers.)"""

from __future__ import annotations

import uuid

from cloud_broker.domain.grammar import is_uuid

__all__ = ["canonical_uuid", "is_uuid", "new_grant_id", "session_name"]


def canonical_uuid(value: str) -> str:
    """Lower-case form, so that ``ABC…`` and ``abc…`` name the same agent, run or grant."""
    return value.lower()


def new_grant_id() -> str:
    return str(uuid.uuid4())


def session_name(grant_id: str) -> str:
    """The STS RoleSessionName for a grant: recognisable in CloudTrail, within STS's 64 chars."""
    return f"cb-{grant_id}"
