"""The operator's emergency stop: end every grant of a grant, agent, run or team, now.

Each active grant is revoked as an approver's revocation is (its credentials can no longer be
read, and a ``cloud_revoke`` job makes the cloud refuse them), with the job marked as a kill
switch: a family whose cloud cannot refuse one grant's credentials may then go further (GCP
disables the ceiling's service account) and says so. Pending grants of the selection are
denied, so nothing the stopped agent asked for is approved after the stop.
"""

from __future__ import annotations

from dataclasses import dataclass

from cloud_broker.domain.grants import Grant, GrantStatus
from cloud_broker.errors import Conflict, InvalidInput
from cloud_broker.service.deps import Deps, audit
from cloud_broker.service.jobs import Job
from cloud_broker.service.ports import GrantFilter
from cloud_broker.service.revocation import Revocations

SELECTION_LIMIT = 10_000


@dataclass(frozen=True)
class Selection:
    """Exactly one of these names what to stop."""

    grant_id: str | None = None
    agent_id: str | None = None
    run_id: str | None = None
    team: str | None = None

    def check(self) -> None:
        chosen = [v for v in (self.grant_id, self.agent_id, self.run_id, self.team) if v]
        if len(chosen) != 1:
            raise InvalidInput("name exactly one of --grant, --agent, --run or --team")

    def matches(self, grant: Grant) -> bool:
        return ((self.grant_id is None or grant.grant_id == self.grant_id.lower())
                and (self.agent_id is None or grant.agent_id == self.agent_id.lower())
                and (self.run_id is None or grant.run_id == self.run_id.lower())
                and (self.team is None or grant.team == self.team))


@dataclass(frozen=True)
class Stopped:
    grant: Grant
    job: Job | None
    """The cloud revocation job of a grant that was active; None for a denied pending one."""


def end_active(deps: Deps, revocations: Revocations, grant: Grant, actor: str, reason: str, *,
               kill_switch: bool = False) -> tuple[Grant, Job]:
    """Revoke an active grant and write its cloud job, from the row as it is in this
    transaction. Raises Conflict when it is not active (any more)."""
    now = deps.clock()
    with deps.store.unit_of_work() as uow:
        fresh = uow.get_grant(grant.grant_id)
        if fresh.status_at(now) is not GrantStatus.ACTIVE:
            raise Conflict(f"grant {grant.grant_id} is {fresh.status_at(now).value}, not active; nothing was changed",
                           code="GRANT_NOT_ACTIVE")
        revoked = fresh.moved_to(GrantStatus.REVOKED, now, denial_reason=f"revoked by {actor.split(':', 1)[-1]}: {reason}")
        if not uow.update_grant(revoked, expected=GrantStatus.ACTIVE, revision=fresh.revision):
            raise Conflict(f"grant {grant.grant_id} changed meanwhile; nothing was changed", code="ALREADY_RESOLVED")
        uow.delete_secret(grant.grant_id)
        seq = audit(uow, "grant.revoked", actor, now, revoked, decision="revoked", reason=reason,
                    detail={"kill_switch": True} if kill_switch else {})
        job = revocations.enqueue(uow, revoked, seq, actor, kill_switch=kill_switch)
    return revoked, job


class KillSwitch:
    def __init__(self, deps: Deps, revocations: Revocations) -> None:
        self._deps = deps
        self._revocations = revocations

    def pull(self, selection: Selection, actor: str, reason: str) -> list[Stopped]:
        """Stop every active and pending grant selected; returns what was stopped."""
        selection.check()
        if not reason.strip():
            raise InvalidInput("a kill switch needs a reason (it is shown to the agent and audited)")
        stopped: list[Stopped] = []
        for grant in self._selected(selection):
            try:
                stopped.append(self._stop(grant, actor, reason))
            except Conflict:
                continue  # settled meanwhile: nothing left to stop
        return stopped

    def _selected(self, selection: Selection) -> list[Grant]:
        where = GrantFilter(statuses=(GrantStatus.ACTIVE, GrantStatus.PENDING), team=selection.team,
                            agent_id=selection.agent_id.lower() if selection.agent_id else None,
                            oldest_first=True, limit=SELECTION_LIMIT)
        with self._deps.store.unit_of_work() as uow:
            if selection.grant_id:
                found = uow.find_grant(selection.grant_id.lower())
                return [found] if found is not None else []
            return [g for g in uow.search_grants(where) if selection.matches(g)]

    def _stop(self, grant: Grant, actor: str, reason: str) -> Stopped:
        now = self._deps.clock()
        status = grant.status_at(now)
        if status is GrantStatus.ACTIVE:
            revoked, job = end_active(self._deps, self._revocations, grant, actor, reason, kill_switch=True)
            return Stopped(revoked, job)
        if status is not GrantStatus.PENDING:
            raise Conflict(f"grant {grant.grant_id} is {status.value}", code="ALREADY_RESOLVED")
        with self._deps.store.unit_of_work() as uow:
            fresh = uow.get_grant(grant.grant_id)
            denied = fresh.moved_to(GrantStatus.DENIED, now, denial_reason=f"stopped by the kill switch: {reason}")
            if fresh.status_at(now) is not GrantStatus.PENDING or not uow.update_grant(
                    denied, expected=GrantStatus.PENDING, revision=fresh.revision):
                raise Conflict(f"grant {grant.grant_id} changed meanwhile", code="ALREADY_RESOLVED")
            audit(uow, "grant.denied", actor, now, denied, decision="denied", reason=reason,
                  detail={"kill_switch": True})
        return Stopped(denied, None)
