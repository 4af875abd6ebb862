"""A human's decision on a grant: approve (possibly narrowed), deny, comment, revoke.

Approval re-runs the policy engine first: a ceiling tightened since the request was made
must not be bypassed by an approval of the old request. Every write is conditional on the
grant's status and revision, so two approvers racing produce exactly one mint, and a grant
that needs two approvals never loses one of them to a concurrent write.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from cloud_broker.domain.grants import Grant, GrantStatus
from cloud_broker.domain.ids import canonical_uuid
from cloud_broker.domain.requests import MIN_TTL
from cloud_broker.domain.scope import ScopeField, document
from cloud_broker.errors import BrokerError, Conflict, Forbidden, InvalidInput
from cloud_broker.policy.decision import Outcome
from cloud_broker.service.deps import Deps, audit
from cloud_broker.service.jobs import Job
from cloud_broker.service.kill_switch import end_active
from cloud_broker.service.minting import MintJobs
from cloud_broker.service.revocation import Revocations

if TYPE_CHECKING:
    from cloud_broker.policy.approval import ApprovalRequirement

MAX_TEXT = 1000
# Conditional writes that lose a race are retried against the fresh row this many times.
WRITE_ATTEMPTS = 5


class Narrowing:
    """What an approver cut from the request: a shorter TTL, and for each scope list the family
    lets approvers narrow (AWS: ``actions``, ``resources``; GCP: ``permissions``, ``resources``)
    the items kept. A list left out keeps the grant's own."""

    def __init__(self, ttl: timedelta | None = None, **picks: Iterable[str] | None) -> None:
        self.ttl = ttl
        self.picks = {key: tuple(items) for key, items in picks.items() if items is not None}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Narrowing) and (self.ttl, self.picks) == (other.ttl, other.picks)

    def __repr__(self) -> str:
        return f"Narrowing(ttl={self.ttl!r}, picks={self.picks!r})"

    def apply(self, grant: Grant, fields: tuple[ScopeField, ...]) -> Grant:
        narrowable = {field.key for field in fields if field.narrowable}
        refused = sorted(set(self.picks) - narrowable)
        if refused:
            raise InvalidInput(f"{', '.join(refused)} cannot be narrowed for this grant; "
                               f"an approver may narrow {', '.join(sorted(narrowable)) or 'nothing'} and the TTL")
        scope = {key: _subset(key, self.picks.get(key), values) for key, values in grant.scope.items()}
        ttl = grant.ttl if self.ttl is None else self.ttl
        if ttl > grant.ttl or ttl < MIN_TTL:
            raise InvalidInput(
                f"an approved TTL must be between {int(MIN_TTL.total_seconds())} s and the requested "
                f"{int(grant.ttl.total_seconds())} s"
            )
        if (scope, ttl) == (dict(grant.scope), grant.ttl):
            return grant
        requested = grant.requested or _scope(grant)
        return replace(grant, scope=scope, ttl=ttl, requested=requested)


class Approvals:
    def __init__(self, deps: Deps, mints: MintJobs, revocations: Revocations) -> None:
        self._deps = deps
        self._mints = mints
        self._revocations = revocations

    def requirement(self, grant: Grant) -> ApprovalRequirement:
        """Who may approve ``grant`` under today's ceiling, and how many approvals it needs."""
        from cloud_broker.policy.approval import NOBODY, approval_requirement

        family = self._deps.family(grant.family)
        ceiling = family.ceiling(self._deps.config, grant.team, grant.target)
        if ceiling is None:
            return NOBODY
        return approval_requirement(family.approval_actions(grant.scope), ceiling, family.levels_of)

    def may_review(self, grant: Grant, approver: str) -> bool:
        """Whether ``approver`` approves for the grant's ceiling at all (and so may see it).
        Approval rules only narrow the ceiling's approvers (config checks enforce it)."""
        ceiling = self._deps.family(grant.family).ceiling(self._deps.config, grant.team, grant.target)
        if ceiling is None or self._deps.config.approver(approver) is None:
            return False
        return approver in ceiling.approvers

    def refusal(self, grant: Grant, approver: str) -> BrokerError | None:
        """Why ``approver`` may not approve ``grant`` now, or None: the one place the rules live,
        used to refuse an approval and to tell the console what to offer."""
        requirement = self.requirement(grant)
        status = grant.status_at(self._deps.clock())
        if self._deps.config.approver(approver) is None or not requirement.allows(approver):
            names = ", ".join(sorted(requirement.approvers)) or "nobody"
            return Forbidden(f"'{approver}' is not an approver for this request (team '{grant.team}', "
                             f"{self.where(grant)}); it needs one of: {names}", code="NOT_AN_APPROVER")
        if status is not GrantStatus.PENDING:
            return _already_resolved(grant, status)
        if approver in self.valid_approvals(grant, requirement):
            return Conflict(f"you already approved grant {grant.grant_id}; it needs "
                            f"{requirement.required} distinct approvers", code="ALREADY_APPROVED")
        if self._started_it(grant, approver):
            return Forbidden(f"'{approver}' started the conversation that made this request and cannot approve "
                             "it; another approver must", code="SELF_APPROVAL")
        return None

    def valid_approvals(self, grant: Grant, requirement: ApprovalRequirement | None = None) -> tuple[str, ...]:
        """The recorded approvals that still count: an approver removed from the ceiling, its
        rules or the file since approving no longer does (a tightened setup is not bypassed)."""
        requirement = requirement or self.requirement(grant)
        config = self._deps.config
        return tuple(a for a in grant.approvals if requirement.allows(a) and config.approver(a) is not None)

    def approve(self, grant_id: str, approver: str, narrowing: Narrowing | None = None, comment: str | None = None,
                *, mint_now: bool = True) -> Grant:
        """Record ``approver``'s approval; once enough distinct approvers agreed the grant moves
        to ``minting`` with a mint job. ``mint_now`` runs that job here and now (a broker
        process, holding the broker's cloud identity); without it a broker process runs it."""
        comment = _optional_text(comment)
        for _ in range(WRITE_ATTEMPTS):
            grant = self._pending(grant_id, approver)
            narrowed = self._narrowed(grant, narrowing or Narrowing())
            hard_deny = self._hard_deny(narrowed)
            if hard_deny is not None:
                return self._settle_denied(grant.grant_id, f"approver:{approver}",
                                           f"the ceiling no longer allows this request: {hard_deny}",
                                           detail={"trigger": "hard_deny_on_approve"})
            written = self._record_approval(grant, narrowed, approver, comment)
            if written is not None:
                updated, mint = written
                if mint is not None and mint_now:
                    self._mints.run_now(mint)
                    return self._load(grant_id)
                return updated
        raise Conflict(f"grant {grant_id} kept changing while being approved; try again", code="GRANT_BUSY")

    def deny(self, grant_id: str, approver: str, reason: str) -> Grant:
        """Any one listed approver may deny, also one who approved before (minds change)."""
        reason = _required_text("a denial", reason)
        grant = self._load(grant_id)
        refused = self.refusal(grant, approver)
        if refused is not None and refused.code not in ("ALREADY_APPROVED", "SELF_APPROVAL"):
            raise refused
        return self._settle_denied(grant.grant_id, f"approver:{approver}", reason, approver=approver)

    def comment(self, grant_id: str, approver: str, text: str) -> None:
        text = _required_text("a comment", text)
        grant = self._visible(grant_id, approver)
        with self._deps.store.unit_of_work() as uow:
            audit(uow, "grant.comment", f"approver:{approver}", self._deps.clock(), grant, reason=text)

    def revoke(self, grant_id: str, approver: str, reason: str, *, cloud_now: bool = True) -> Grant:
        """End an active grant early: the broker stops handing its credentials out, and a
        ``cloud_revoke`` job asks the provider to do what it can (``cloud_now`` makes the first
        attempt here; otherwise a broker process does). The job's outcome is audited."""
        reason = _required_text("a revocation", reason)
        grant = self._visible(grant_id, approver)
        revoked, job = end_active(self._deps, self._revocations, grant, f"approver:{approver}", reason)
        if cloud_now:
            self._revocations.run_now(job)
        return revoked

    def _record_approval(self, grant: Grant, narrowed: Grant, approver: str,
                         comment: str | None) -> tuple[Grant, Job | None] | None:
        """One conditional write, with the mint job when it was the last approval needed; None
        when someone else wrote first (the caller retries)."""
        now = self._deps.clock()
        requirement = self.requirement(narrowed)
        approvals = (*self.valid_approvals(grant, requirement), approver)
        needed = requirement.required
        detail = {"approvals": list(approvals), "required": needed, **_narrowing_detail(grant, narrowed)}
        if len(approvals) < needed:
            updated = replace(narrowed, approvals=approvals, updated_at=now)
            event, decision = "grant.approval_recorded", "approval_recorded"
        else:
            updated = narrowed.moved_to(GrantStatus.MINTING, now, approvals=approvals, approver=approver,
                                        expires_at=now + narrowed.ttl)
            event, decision = "grant.approved", "approved"
        with self._deps.store.unit_of_work() as uow:
            if not uow.update_grant(updated, expected=GrantStatus.PENDING, revision=grant.revision):
                return None
            seq = audit(uow, event, f"approver:{approver}", now, updated, decision=decision, reason=comment,
                        detail=detail)
            mint = self._mints.enqueue(uow, updated, seq, f"approver:{approver}") \
                if updated.status is GrantStatus.MINTING else None
        return replace(updated, revision=grant.revision + 1), mint

    def _pending(self, grant_id: str, approver: str) -> Grant:
        grant = self._load(grant_id)
        refused = self.refusal(grant, approver)
        if refused is not None:
            raise refused
        return grant

    def _visible(self, grant_id: str, approver: str) -> Grant:
        grant = self._load(grant_id)
        if not self.may_review(grant, approver):
            raise Forbidden(f"'{approver}' does not approve for team '{grant.team}' on {self.where(grant)}",
                            code="NOT_AN_APPROVER")
        return grant

    def _narrowed(self, grant: Grant, narrowing: Narrowing) -> Grant:
        """The grant as the approver narrowed it, if its family can grant exactly that."""
        family = self._deps.family(grant.family)
        narrowed = narrowing.apply(grant, family.scope_fields)
        if narrowed is not grant:
            problem = family.narrowing_problem(grant.scope, narrowed.scope)
            if problem is not None:
                raise InvalidInput(f"this narrowing cannot be granted as it reads: {problem}; approve the request "
                                   "as it is, narrow it differently, or deny it")
        return narrowed

    def where(self, grant: Grant) -> str:
        """"AWS account 123456789012", "GCP project reports-prod": the grant's target in words."""
        return f"{self._deps.family(grant.family).words.target_noun} {grant.target}"

    def grant(self, grant_id: str) -> Grant:
        """The grant, for an edge that must know its family before acting (the console's form)."""
        return self._load(grant_id)

    def _load(self, grant_id: str) -> Grant:
        with self._deps.store.reading() as uow:
            return uow.get_grant(canonical_uuid(grant_id))

    def _started_it(self, grant: Grant, approver: str) -> bool:
        """Nobody approves a request their own chat message set off (the ``turn_initiator``)."""
        account = self._deps.config.approver(approver)
        sender = (grant.turn_initiator or {}).get("sender_id")
        return account is not None and isinstance(sender, str) and sender in account.identities()

    def _hard_deny(self, grant: Grant) -> str | None:
        family = self._deps.family(grant.family)
        ceiling = family.ceiling(self._deps.config, grant.team, grant.target)
        decision = family.decide(grant.request(), ceiling, team=grant.team, now=self._deps.clock())
        return decision.reason if decision.outcome is Outcome.HARD_DENY else None

    def _settle_denied(self, grant_id: str, actor: str, reason: str, approver: str | None = None,
                       detail: dict[str, object] | None = None) -> Grant:
        """Written from the row as it is inside this transaction, so approvals and narrowing
        recorded meanwhile stay on the grant."""
        now = self._deps.clock()
        with self._deps.store.unit_of_work() as uow:
            fresh = uow.get_grant(grant_id)
            if fresh.status_at(now) is not GrantStatus.PENDING:
                raise _already_resolved(fresh, fresh.status_at(now))
            denied = fresh.moved_to(GrantStatus.DENIED, now, denial_reason=reason, approver=approver)
            if not uow.update_grant(denied, expected=GrantStatus.PENDING, revision=fresh.revision):
                raise _already_resolved(uow.get_grant(grant_id))
            audit(uow, "grant.denied", actor, now, denied, decision="denied", reason=reason, detail=detail or {})
        return denied


def _already_resolved(grant: Grant, status: GrantStatus | None = None) -> Conflict:
    status = status or grant.status
    by = f" by {grant.approver}" if grant.approver and status is grant.status else ""
    return Conflict(
        f"grant {grant.grant_id} is already {status.value}{by}; nothing was changed",
        code="ALREADY_RESOLVED",
    )


def _subset(what: str, chosen: tuple[str, ...] | None, current: tuple[str, ...]) -> tuple[str, ...]:
    """Narrowing picks from what was asked; it never adds."""
    if chosen is None:
        return current
    extra = [item for item in chosen if item not in current]
    if extra:
        raise InvalidInput(f"narrowed {what} must come from the request; not requested: {', '.join(extra[:5])}")
    picked = tuple(item for item in current if item in chosen)
    if not picked:
        raise InvalidInput(f"an approval must keep at least one of the requested {what}; deny the request instead")
    return picked


def _scope(grant: Grant) -> dict[str, Any]:
    return {**document(grant.scope), "ttl_seconds": int(grant.ttl.total_seconds())}


def _narrowing_detail(before: Grant, after: Grant) -> dict[str, object]:
    if after is before:
        return {}
    return {"narrowed_to": _scope(after), "narrowed_from": _scope(before)}


def _required_text(what: str, text: str) -> str:
    text = (text or "").strip()
    if not text or len(text) > MAX_TEXT:
        raise InvalidInput(f"{what} needs a reason of 1 to {MAX_TEXT} characters")
    return text


def _optional_text(text: str | None) -> str | None:
    text = (text or "").strip()
    if len(text) > MAX_TEXT:
        raise InvalidInput(f"a comment may have at most {MAX_TEXT} characters")
    return text or None
