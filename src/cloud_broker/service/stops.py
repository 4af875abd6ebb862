"""What the operator's kill switch stopped stays stopped until an operator resumes it.

Ending an agent's grants is not enough if the agent can file the same request again a second
later and have it auto-approved. A kill switch pulled for an agent, a run or a team records a
stop in the store (a named counter holding the moment it was pulled, in milliseconds; zero
once lifted), checked in the unit of work that admits every new request, whichever broker
process serves it. ``cloud-broker resume`` lifts it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from cloud_broker.domain.grants import Grant
from cloud_broker.service.ports import UnitOfWork

KINDS = ("agent", "run", "team")


def _name(kind: str, value: str) -> str:
    return f"stop:{kind}:{value}"


def record(uow: UnitOfWork, kind: str, value: str, now: datetime) -> None:
    """Stop ``kind`` ``value`` (an agent id, a run id, a team name) from ``now`` on."""
    name, at = _name(kind, value), int(now.timestamp() * 1000)
    current = uow.read_cursor(name)
    if not uow.move_cursor(name, current, at):
        raise RuntimeError(f"the stop of {kind} {value} changed while it was being recorded")


def lift(uow: UnitOfWork, kind: str, value: str) -> bool:
    """Resume ``kind`` ``value``; False when it was not stopped."""
    name = _name(kind, value)
    current = uow.read_cursor(name)
    return bool(current) and uow.move_cursor(name, current, 0)


def stopped(uow: UnitOfWork, grant: Grant) -> tuple[str, str, datetime] | None:
    """The stop that refuses a new request like ``grant`` (kind, value, when), if any; one read,
    since every grant request asks."""
    candidates = (("agent", grant.agent_id), ("run", grant.run_id), ("team", grant.team))
    found = uow.read_cursors([_name(kind, value) for kind, value in candidates])
    for kind, value in candidates:
        at = found.get(_name(kind, value))
        if at:
            return kind, value, datetime.fromtimestamp(at / 1000, tz=UTC)
    return None
