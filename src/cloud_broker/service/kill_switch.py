"""The operator's emergency stop: end every grant of a grant, agent, run or team, now.

Each active grant is revoked as an approver's revocation is (its credentials can no longer be
read, and a ``cloud_revoke`` job makes the cloud refuse them), with the job marked as a kill
switch: a family whose cloud cannot refuse one grant's credentials may then go further (GCP
disables the ceiling's service account) and says so. Pending grants of the selection are
denied, so nothing the stopped agent asked for is approved after the stop; grants being minted
at that moment are failed, and whatever the cloud issues for them is revoked there. An agent,
run or team stays stopped (``service.stops``): its new requests are refused until an operator
resumes it.
"""

from __future__ import annotations

from dataclasses import dataclass

from cloud_broker.domain.grants import Grant, GrantStatus
from cloud_broker.errors import Conflict, InvalidInput
from cloud_broker.service import stops
from cloud_broker.service.access import settle_expired
from cloud_broker.service.deps import Deps, audit
from cloud_broker.service.jobs import Job
from cloud_broker.service.minting import fail_interrupted
from cloud_broker.service.ports import GrantFilter
from cloud_broker.service.revocation import CLOUD_REVOKE, Revocations

PAGE = 500


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
        """Stop every active, minting and pending grant selected; returns what was stopped. Each
        page of open grants is stopped before the next is read, so the pages shrink to nothing."""
        selection.check()
        if not reason.strip():
            raise InvalidInput("a kill switch needs a reason (it is shown to the agent and audited)")
        self._record_stop(selection)  # first: a request filed while the grants are stopped is refused
        stopped: list[Stopped] = []
        seen: set[str] = set()
        while page := [g for g in self._selected(selection) if g.grant_id not in seen]:
            for grant in page:
                seen.add(grant.grant_id)
                try:
                    stopped.append(self._stop(grant, actor, reason))
                except Conflict:
                    continue  # settled meanwhile: nothing left to stop
        return stopped

    def resume(self, selection: Selection) -> bool:
        """Lift the stop of an agent, a run or a team; False when it was not stopped."""
        selection.check()
        kind, value = _stop_of(selection)
        if kind == "grant":
            raise InvalidInput("a grant is not stopped, only ended: resume --agent, --run or --team")
        with self._deps.store.unit_of_work() as uow:
            return stops.lift(uow, kind, value)

    def _record_stop(self, selection: Selection) -> None:
        kind, value = _stop_of(selection)
        if kind != "grant":
            with self._deps.store.unit_of_work() as uow:
                stops.record(uow, kind, value, self._deps.clock())

    def _selected(self, selection: Selection) -> list[Grant]:
        """Every open grant of the selection, read page by page (a team may hold many)."""
        if selection.grant_id:
            with self._deps.store.reading() as uow:
                found = uow.find_grant(selection.grant_id.lower())
            return [found] if found is not None else []
        where = GrantFilter(statuses=(GrantStatus.ACTIVE, GrantStatus.MINTING, GrantStatus.PENDING),
                            team=selection.team, agent_id=selection.agent_id.lower() if selection.agent_id else None,
                            run_id=selection.run_id.lower() if selection.run_id else None,
                            oldest_first=True, limit=PAGE)
        with self._deps.store.reading() as uow:
            return uow.search_grants(where)

    def _stop_minting(self, grant: Grant, actor: str, reason: str) -> Stopped:
        """A grant being minted right now: failed, and whatever the cloud issues for it revoked
        (the statement reaches past the session's expiry, so it catches a session issued after)."""
        if not fail_interrupted(self._deps, grant, actor, f"stopped by the kill switch while minting: {reason}",
                                revoke_in_cloud=True, kill_switch=True):
            raise Conflict(f"grant {grant.grant_id} changed meanwhile", code="ALREADY_RESOLVED")
        with self._deps.store.reading() as uow:
            failed = uow.get_grant(grant.grant_id)
            job = uow.list_deliveries(grant_id=grant.grant_id, kinds=(CLOUD_REVOKE,))[-1]
        return Stopped(failed, job)

    def _stop(self, grant: Grant, actor: str, reason: str) -> Stopped:
        now = self._deps.clock()
        status = grant.status_at(now)
        if status is GrantStatus.ACTIVE:
            revoked, job = end_active(self._deps, self._revocations, grant, actor, reason, kill_switch=True)
            return Stopped(revoked, job)
        if status is GrantStatus.MINTING:
            return self._stop_minting(grant, actor, reason)
        if status is GrantStatus.EXPIRED:  # time decided it already: write that down, stop nothing
            settle_expired(self._deps, grant, actor)
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


def _stop_of(selection: Selection) -> tuple[str, str]:
    """What the selection names, in the form the store keeps stops under."""
    if selection.agent_id:
        return "agent", selection.agent_id.lower()
    if selection.run_id:
        return "run", selection.run_id.lower()
    if selection.team:
        return "team", selection.team
    return "grant", str(selection.grant_id)
