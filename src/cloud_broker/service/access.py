"""The agent's use-cases: inventory, scope, preview, request, poll, credentials, release.

Every call names the host (from its token) and the agent it acts for. A host may act only
for its own agents; a grant of another agent reads as not found, so grant ids leak nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from cloud_broker.domain.delivery import CredentialsDelivery
from cloud_broker.domain.grants import Grant, GrantStatus
from cloud_broker.domain.ids import canonical_uuid, new_grant_id
from cloud_broker.domain.limits import MAX_STORED_DENIED_RESOURCE
from cloud_broker.domain.requests import AccessRequest
from cloud_broker.domain.scope import Scope, canonical, digest
from cloud_broker.errors import Conflict, Forbidden, Gone, NotFound
from cloud_broker.policy.decision import Decision, Outcome
from cloud_broker.providers.base import IssuedCredential
from cloud_broker.service.admission import admit_request
from cloud_broker.service.deps import Deps, agent_actor, audit
from cloud_broker.service.family import ServiceFamily
from cloud_broker.service.minting import Minter, record_intent
from cloud_broker.service.ports import (
    DuplicateRequest,
    PageReport,
    UnitOfWork,
)
from cloud_broker.service.revocation import CloudRevocation, Revocations

if TYPE_CHECKING:
    from cloud_broker.config import Agent
    from cloud_broker.policy.rules import FamilyCeiling

log = logging.getLogger(__name__)
# A pending request repeated unchanged is answered with its grant each time; the trail records
# (and a failed page is retried) at most once per grant per window: repeats are the agent's to
# send as fast as it likes, and rows and posts must not grow with them.
REPEAT_WINDOW = timedelta(minutes=1)


@dataclass(frozen=True)
class GrantAsk:
    """A grant request as the agent made it, after wire validation."""

    run_id: str
    request: AccessRequest
    task_id: str | None = None
    reason: str | None = None
    source_context: dict[str, Any] | None = None
    turn_initiator: dict[str, Any] | None = None


@dataclass(frozen=True)
class GrantOutcome:
    grant: Grant
    decision: Decision
    credential: IssuedCredential | None = None
    page: PageReport | None = None
    # True when an identical pending request of the same run was returned instead of a new one.
    repeated: bool = False
    # How long the cloud's provider took to mint, when it was called in this request.
    provider_time: timedelta | None = None


class AgentAccess:
    def __init__(self, deps: Deps, minter: Minter, revocations: Revocations) -> None:
        self._deps = deps
        self._minter = minter
        self._revocations = revocations

    def agent(self, host: str, agent_id: str) -> Agent:
        """The agent, if ``host`` may act for it. Unknown and foreign agents get the same answer."""
        agent = self._deps.config.agent(canonical_uuid(agent_id))
        if agent is None or agent.host != host:
            raise Forbidden(f"host '{host}' may not act for agent {agent_id}", code="AGENT_NOT_ALLOWED")
        return agent

    def ceiling(self, host: str, agent_id: str, family_name: str, target: str) -> tuple[Agent, FamilyCeiling]:
        agent = self.agent(host, agent_id)
        family = self._deps.family(family_name)
        ceiling = family.ceiling(self._deps.config, agent.team, target)
        if ceiling is None:
            words = family.words
            raise NotFound(
                f"{words.target_noun} {target} is not enrolled for team '{agent.team}'; "
                f"call {words.list_tool} for the {words.target_noun.split()[-1]}s you can use",
                code="NO_ENROLMENT",
            )
        return agent, ceiling

    def preview(self, host: str, agent_id: str, request: AccessRequest) -> Decision:
        """The decision a request would get. Writes nothing."""
        agent = self.agent(host, agent_id)
        return self._decide(agent, request)

    def request(self, host: str, agent_id: str, ask: GrantAsk) -> GrantOutcome:
        agent = self.agent(host, agent_id)
        decision = self._decide(agent, ask.request)
        now = self._deps.clock()
        family = self._deps.family(ask.request.family)
        grant = _new_grant(agent, ask, decision, now, self._deps.config.broker.pending_timeout)
        if grant.status is GrantStatus.PENDING:
            return self._file_for_approval(grant, ask, decision)
        actor = agent_actor(grant)
        with self._deps.store.unit_of_work() as uow:
            admit_request(uow, grant, now, self._deps.config.broker, family.words.release_tool)
            uow.insert_grant(grant)
            seq = audit(uow, "grant.requested", actor, now, grant, decision=decision.outcome.value,
                        reason=decision.reason, detail=_request_detail(family, ask, decision))
            if grant.status is GrantStatus.MINTING:
                record_intent(uow, self._deps, grant, seq)
        if grant.status is not GrantStatus.MINTING:
            return GrantOutcome(grant, decision)
        minted = self._minter.mint(grant, actor)
        return GrantOutcome(minted.grant, decision, minted.credential, provider_time=minted.provider_time)

    def _file_for_approval(self, grant: Grant, ask: GrantAsk, decision: Decision) -> GrantOutcome:
        """Insert and page, unless the same run already waits on the same request: then that
        grant is the answer and nobody is paged twice."""
        actor, now = agent_actor(grant), grant.created_at
        family = self._deps.family(grant.family)
        assert grant.request_key is not None
        for _ in range(3):
            try:
                with self._deps.store.unit_of_work() as uow:
                    existing = uow.find_pending_duplicate(grant.request_key)
                    repeat = existing is not None and existing.status_at(now) is GrantStatus.PENDING
                    if existing is not None and repeat:
                        # The repeat is answered, but not counted as a request: at most one row
                        # (and one retry of a failed page) per grant per window, however often;
                        # repeats racing through several processes check one at a time.
                        uow.serialize("grant.request_repeated", existing.grant_id)
                        seq = None if uow.repeated_since(existing.grant_id, now - REPEAT_WINDOW) else \
                            audit(uow, "grant.request_repeated", actor, now, existing, detail={"task_id": ask.task_id})
                    else:
                        # Counted in the unit of work that inserts, so requests racing at a cap
                        # cannot all pass it; a refusal rolls everything back: nothing is written.
                        admit_request(uow, grant, now, self._deps.config.broker, family.words.release_tool)
                        if existing is not None:
                            settle_expired(self._deps, existing, "system:request", uow=uow)
                        uow.insert_grant(grant)
                        seq = audit(uow, "grant.requested", actor, now, grant, decision=decision.outcome.value,
                                    reason=decision.reason, detail=_request_detail(family, ask, decision))
            except DuplicateRequest:
                continue  # an identical request committed first: answer with that one
            # Paged after the commit: the pager writes its own rows and may wait on the network.
            if repeat and existing is not None:
                page = self._deps.pager.page(existing, seq or 0, repost=seq is not None)
                return GrantOutcome(existing, decision, page=page, repeated=True)
            return GrantOutcome(grant, decision, page=self._deps.pager.page(grant, seq))
        raise Conflict("an identical request is being filed concurrently; try again", code="GRANT_BUSY")

    def poll(self, host: str, agent_id: str | None, grant_id: str, family: str) -> Grant:
        return self.grant_of(host, agent_id, grant_id, family)

    def credentials(self, host: str, agent_id: str | None, grant_id: str,
                    family: str) -> tuple[Grant, dict[str, str] | None]:
        """The grant and its values; ``None`` instead of values when the grant's team is
        ``runtime_only`` (nothing is read from the vault then: the runtime resolves the pointer)."""
        grant = self.grant_of(host, agent_id, grant_id, family)
        now = self._deps.clock()
        require_usable(grant, grant.status_at(now))
        if self._deps.config.credentials_delivery(grant.team) is CredentialsDelivery.RUNTIME_ONLY:
            return grant, None
        return grant, self.read_values(grant, "credentials.read", _caller(grant, host, agent_id))

    def read_values(self, grant: Grant, event: str, actor: str, *,
                    admit: Callable[[UnitOfWork], None] | None = None, **detail: Any) -> dict[str, str]:
        """Open the grant's sealed values, writing the audit row ``event`` (never a value) first.
        ``admit`` may refuse (raise) in the same unit of work, before the row: a cap counted
        there holds against every other writer until this row is committed."""
        with self._deps.store.unit_of_work() as uow:
            if admit is not None:
                admit(uow)
            sealed = uow.find_secret(grant.grant_id)
            if sealed is None:
                raise Conflict(f"grant {grant.grant_id} holds no credentials", code="GRANT_NOT_ACTIVE")
            audit(uow, event, actor, self._deps.clock(), grant, detail={"key_id": sealed.key_id, **detail})
        return IssuedCredential.values_from_bytes(self._deps.vault.open(grant.grant_id, sealed))

    def release(self, host: str, agent_id: str | None, grant_id: str,
                family: str) -> tuple[Grant, CloudRevocation | None]:
        """Idempotent: returns the grant and, when it held credentials, where their revocation in
        the cloud stands (the same answer on every call until the cloud job settles)."""
        grant = self.grant_of(host, agent_id, grant_id, family)
        now = self._deps.clock()
        current = grant.status_at(now)
        if current in (GrantStatus.PENDING, GrantStatus.ACTIVE):
            return self._revoke(grant, current, _caller(grant, host, agent_id))
        if current is GrantStatus.EXPIRED and grant.status is GrantStatus.ACTIVE:
            return settle_expired(self._deps, grant, "system:release"), None
        return grant, self._revocations.state(grant.grant_id)

    def _revoke(self, grant: Grant, current: GrantStatus, actor: str) -> tuple[Grant, CloudRevocation | None]:
        """Commit the release (with its cloud job when credentials existed), then make the job's
        first attempt: whatever the cloud answers, the release stands and the reply says so."""
        now = self._deps.clock()
        revoked = grant.moved_to(GrantStatus.REVOKED, now)
        held_credentials = current is GrantStatus.ACTIVE and grant.expires_at is not None
        with self._deps.store.unit_of_work() as uow:
            if not uow.update_grant(revoked, expected=grant.status):
                return uow.get_grant(grant.grant_id), None
            uow.delete_secret(grant.grant_id)
            seq = audit(uow, "grant.released", actor, now, revoked, reason="released by the agent")
            job = self._revocations.enqueue(uow, revoked, seq, actor) if held_credentials else None
        return revoked, None if job is None else self._revocations.run_now(job)

    def grant_of(self, host: str, agent_id: str | None, grant_id: str, family: str) -> Grant:
        """The grant, if the caller may see it: with an agent, one of that agent's (which the host
        must act for); without one (GCP's grant routes name none), one of the host's agents.
        A grant of another family, agent or host reads as not found."""
        owner = self.agent(host, agent_id).id if agent_id is not None else None
        with self._deps.store.reading() as uow:
            grant = uow.find_grant(canonical_uuid(grant_id))
        if grant is None or grant.family != family or grant.host != host \
                or (owner is not None and grant.agent_id != owner):
            raise NotFound(f"grant {grant_id} not found", code="GRANT_NOT_FOUND")
        return grant

    def _decide(self, agent: Agent, request: AccessRequest) -> Decision:
        family = self._deps.family(request.family)
        ceiling = family.ceiling(self._deps.config, agent.team, request.target)
        return family.decide(request, ceiling, team=agent.team, now=self._deps.clock())


def _caller(grant: Grant, host: str, agent_id: str | None) -> str:
    """Who the trail says acted: the agent, or, on a route that names none (GCP's grant routes
    as the published client calls them), only the host, for that is all that is known."""
    return agent_actor(grant) if agent_id is not None else f"host:{host} (no agent named)"


_STATUS_FOR = {
    Outcome.AUTO_APPROVE: GrantStatus.MINTING,
    Outcome.ROUTE_TO_APPROVER: GrantStatus.PENDING,
    Outcome.HARD_DENY: GrantStatus.DENIED,
}


def _new_grant(agent: Agent, ask: GrantAsk, decision: Decision, now: Any, pending_timeout: timedelta) -> Grant:
    status = _STATUS_FOR[decision.outcome]
    pending = status is GrantStatus.PENDING
    denied = status is GrantStatus.DENIED
    scope = ask.request.scope
    return Grant(
        grant_id=new_grant_id(),
        family=ask.request.family,
        team=agent.team,
        host=agent.host,
        agent_id=agent.id,
        run_id=canonical_uuid(ask.run_id),
        target=ask.request.target,
        scope=_compact(scope) if denied else dict(scope),
        ttl=ask.request.ttl,
        status=status,
        decision=decision.outcome.value,
        decision_reason=decision.reason,
        created_at=now,
        updated_at=now,
        expires_at=now + ask.request.ttl if status is GrantStatus.MINTING else None,
        denial_reason=decision.reason if status is GrantStatus.DENIED else None,
        task_id=ask.task_id,
        reason=ask.reason,
        source_context=ask.source_context,
        turn_initiator=ask.turn_initiator,
        pending_expires_at=now + pending_timeout if pending else None,
        request_key=request_key(agent.id, ask) if pending else None,
    )


def _compact(scope: Scope) -> dict[str, tuple[str, ...]]:
    """A hard-denied request is stored compactly: each item at most ``MAX_STORED_DENIED_RESOURCE``."""
    return {key: tuple(map(_clipped, values)) for key, values in scope.items()}


def _clipped(item: str) -> str:
    if len(item) <= MAX_STORED_DENIED_RESOURCE:
        return item
    return item[: MAX_STORED_DENIED_RESOURCE - 1] + "…"


def request_key(agent_id: str, ask: GrantAsk) -> str:
    """Same agent, same run, same family, target and scope: the same request, whatever order
    its lists came in."""
    request = ask.request
    return digest([agent_id, canonical_uuid(ask.run_id), request.family, request.target, *canonical(request.scope),
                   int(request.ttl.total_seconds())])


def _request_detail(family: ServiceFamily, ask: GrantAsk, decision: Decision) -> dict[str, Any]:
    """What the trail keeps of a request beside its grant row: counts and a digest of the scope
    (the row holds the lists; an audit row must stay small, as it can never be deleted), and
    the decision's explanation, itself bounded in size."""
    request = ask.request
    return {
        "family": request.family,
        family.words.target_field: request.target,
        "counts": {key: len(values) for key, values in request.scope.items()},
        "scope_sha256": digest(canonical(request.scope)),
        "ttl_seconds": int(request.ttl.total_seconds()),
        "task_id": ask.task_id,
        **decision.facts,
        "explanation": decision.explanation(),
    }


def require_usable(grant: Grant, status: GrantStatus) -> None:
    if status is GrantStatus.ACTIVE:
        return
    if status is GrantStatus.EXPIRED:
        raise Gone(f"grant {grant.grant_id} has expired; request a new grant", code="GRANT_EXPIRED")
    if status is GrantStatus.REVOKED:
        raise Conflict(f"grant {grant.grant_id} was released; request a new grant", code="GRANT_RELEASED")
    raise Conflict(f"grant {grant.grant_id} is {status.value}, not active", code="GRANT_NOT_ACTIVE")


def settle_expired(deps: Deps, grant: Grant, actor: str, uow: UnitOfWork | None = None) -> Grant:
    """Write down an expiry that has already happened, and drop the ciphertext."""
    if uow is None:
        with deps.store.unit_of_work() as own:
            return settle_expired(deps, grant, actor, own)
    now = deps.clock()
    # From the row as it is now: approvals or narrowing recorded since ``grant`` was read stay.
    fresh = uow.get_grant(grant.grant_id)
    if fresh.status is not grant.status or fresh.status_at(now) is not GrantStatus.EXPIRED:
        return fresh
    waited = fresh.status is GrantStatus.PENDING
    reason = "no approver decided before the request timed out" if waited else None
    expired = fresh.moved_to(GrantStatus.EXPIRED, now, denial_reason=reason or fresh.denial_reason)
    if not uow.update_grant(expired, expected=fresh.status, revision=fresh.revision):
        return uow.get_grant(grant.grant_id)
    uow.delete_secret(grant.grant_id)
    audit(uow, "grant.expired", actor, now, expired, decision="expired", reason=reason)
    return expired
