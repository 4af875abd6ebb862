"""A human's decision on a pending grant.

Approval re-runs the policy engine first: a ceiling tightened since the request was made
must not be bypassed by an approval of the old request. Moving ``pending → minting`` is a
conditional update, so two approvers racing produce exactly one mint.
"""

from __future__ import annotations

from cloud_broker.domain.grants import Grant, GrantStatus
from cloud_broker.domain.ids import canonical_uuid
from cloud_broker.domain.requests import AwsAccessRequest
from cloud_broker.errors import Conflict, Forbidden, InvalidInput
from cloud_broker.policy.decision import Outcome
from cloud_broker.service.deps import Deps, audit
from cloud_broker.service.minting import Minter

MAX_DENIAL_REASON = 1000


class Approvals:
    def __init__(self, deps: Deps, minter: Minter) -> None:
        self._deps = deps
        self._minter = minter

    def approve(self, grant_id: str, approver: str) -> Grant:
        grant = self._pending(grant_id, approver)
        actor = f"approver:{approver}"
        hard_deny = self._still_allowed(grant)
        if hard_deny is not None:
            return self._settle_denied(grant, actor, f"the ceiling no longer allows this request: {hard_deny}")
        now = self._deps.clock()
        minting = grant.moved_to(GrantStatus.MINTING, now, approver=approver, expires_at=now + grant.ttl)
        with self._deps.store.unit_of_work() as uow:
            if not uow.update_grant(minting, expected=GrantStatus.PENDING):
                raise _already_resolved(uow.get_grant(grant.grant_id))
            audit(uow, "grant.approved", actor, now, minting, decision="approved")
        minted, _ = self._minter.mint(minting, actor)
        return minted

    def deny(self, grant_id: str, approver: str, reason: str) -> Grant:
        reason = reason.strip()
        if not reason or len(reason) > MAX_DENIAL_REASON:
            raise InvalidInput(f"a denial needs a reason of 1 to {MAX_DENIAL_REASON} characters")
        grant = self._pending(grant_id, approver)
        return self._settle_denied(grant, f"approver:{approver}", reason, approver=approver)

    def _pending(self, grant_id: str, approver: str) -> Grant:
        with self._deps.store.unit_of_work() as uow:
            grant = uow.get_grant(canonical_uuid(grant_id))
        ceiling = self._deps.config.ceiling(grant.team, grant.account_id)
        if ceiling is None or approver not in ceiling.approvers:
            raise Forbidden(f"'{approver}' is not an approver for team '{grant.team}' on account {grant.account_id}")
        if grant.status_at(self._deps.clock()) is not GrantStatus.PENDING:
            raise _already_resolved(grant)
        return grant

    def _still_allowed(self, grant: Grant) -> str | None:
        from cloud_broker.policy.decide import decide

        request = AwsAccessRequest(grant.account_id, grant.actions, grant.resources, grant.regions, grant.ttl)
        ceiling = self._deps.config.ceiling(grant.team, grant.account_id)
        decision = decide(request, ceiling, team=grant.team, catalogue=self._deps.catalogue, now=self._deps.clock())
        return decision.reason if decision.outcome is Outcome.HARD_DENY else None

    def _settle_denied(self, grant: Grant, actor: str, reason: str, approver: str | None = None) -> Grant:
        now = self._deps.clock()
        denied = grant.moved_to(GrantStatus.DENIED, now, denial_reason=reason, approver=approver)
        with self._deps.store.unit_of_work() as uow:
            if not uow.update_grant(denied, expected=GrantStatus.PENDING):
                raise _already_resolved(uow.get_grant(grant.grant_id))
            audit(uow, "grant.denied", actor, now, denied, decision="denied", reason=reason)
        return denied


def _already_resolved(grant: Grant) -> Conflict:
    by = f" by {grant.approver}" if grant.approver else ""
    return Conflict(
        f"grant {grant.grant_id} is already {grant.status.value}{by}; nothing was changed",
        code="ALREADY_RESOLVED",
    )
