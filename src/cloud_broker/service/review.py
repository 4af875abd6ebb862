"""What an approver reads before deciding: their queue, the history, and one grant in full.

Read-only. Everything shown is derived from today's configuration (the ceiling, its approval
rules, the family's catalogue) and the stored trail, never from what the agent claims, so that an
approver judges the request by what it would actually grant. Who may *see* a grant is
``Approvals.may_review``: an approver of its ceiling.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from cloud_broker.domain.grants import Grant, GrantStatus
from cloud_broker.domain.ids import canonical_uuid
from cloud_broker.errors import BrokerError, Forbidden
from cloud_broker.policy.decision import Decision
from cloud_broker.policy.risk import RiskSummary
from cloud_broker.service.approvals import Approvals
from cloud_broker.service.deps import Deps
from cloud_broker.service.ports import AuditEvent, Delivery, GrantFilter

if TYPE_CHECKING:
    from cloud_broker.policy.approval import ApprovalRequirement

# The queue page shows at most this many requests, the oldest first.
QUEUE_LIMIT = 500
# History rows are filtered by status as of now after the query; scan this many to fill a page.
HISTORY_SCAN = 1000
AUDIT_ROWS = 500
DELIVERY_ROWS = 100


@dataclass(frozen=True)
class Standing:
    """What one approver may do to one grant right now, and why not when they may not approve."""

    may_approve: bool
    may_deny: bool
    may_revoke: bool
    why_not: str | None = None


@dataclass(frozen=True)
class GrantReview:
    """Everything the grant page shows, computed at one instant."""

    grant: Grant
    status: GrantStatus
    risk: RiskSummary
    # Re-computed against today's ceiling: what an approval would be checked against.
    decision: Decision
    requirement: ApprovalRequirement
    audit: tuple[AuditEvent, ...]
    deliveries: tuple[Delivery, ...]
    standing: Standing

    @property
    def may_approve(self) -> bool:
        return self.standing.may_approve

    @property
    def why_not(self) -> str | None:
        return self.standing.why_not


class Review:
    def __init__(self, deps: Deps, approvals: Approvals) -> None:
        self._deps = deps
        self._approvals = approvals

    def queue(self, approver: str) -> list[Grant]:
        """Pending grants on ceilings ``approver`` reviews, taken in turns per agent: every
        agent's oldest request first (oldest first among them: they time out first), then every
        agent's second oldest, and so on.

        Filtered by ceiling and taken in turns in the query itself, before the limit: requests
        flooding in on other ceilings, or from one agent, cannot push anyone else's out of the
        page or down below the flood. A grant past ``pending_expires_at`` is left out even
        before the sweeper settles it: nobody can approve it any more.
        """
        now = self._deps.clock()
        where = GrantFilter(statuses=(GrantStatus.PENDING,), scopes=self._deps.config.scopes_reviewed_by(approver),
                            oldest_first=True, each_agent_in_turn=True, limit=QUEUE_LIMIT)
        with self._deps.store.reading() as uow:
            rows = uow.search_grants(where)
        return [g for g in rows if g.status_at(now) is GrantStatus.PENDING]

    def history(self, approver: str, where: GrantFilter) -> list[Grant]:
        """Grants matching ``where`` that ``approver`` may review, newest first.

        Statuses are matched as the approver would see them (``status_at``): a pending grant
        past its deadline counts as expired even before the sweeper has written that down.
        """
        now = self._deps.clock()
        wanted = set(where.statuses)
        stored = wanted | ({GrantStatus.PENDING, GrantStatus.ACTIVE} if GrantStatus.EXPIRED in wanted else set())
        query = replace(where, statuses=tuple(sorted(stored)), scopes=self._deps.config.scopes_reviewed_by(approver),
                        limit=max(where.limit, HISTORY_SCAN))
        with self._deps.store.reading() as uow:
            rows = uow.search_grants(query)
        if wanted:
            rows = [g for g in rows if g.status_at(now) in wanted]
        return rows[: where.limit]

    def detail(self, grant_id: str, approver: str) -> GrantReview:
        """The full picture of one grant; Forbidden unless ``approver`` reviews its ceiling."""
        with self._deps.store.reading() as uow:
            grant = uow.get_grant(canonical_uuid(grant_id))
            if not self._approvals.may_review(grant, approver):
                raise Forbidden(f"'{approver}' does not approve for team '{grant.team}' on "
                                f"{self._approvals.where(grant)}", code="NOT_AN_APPROVER")
            trail = tuple(uow.list_audit(grant_id=grant.grant_id, limit=AUDIT_ROWS))
            deliveries = tuple(uow.list_deliveries(grant_id=grant.grant_id, limit=DELIVERY_ROWS))
        now = self._deps.clock()
        requirement = self._approvals.requirement(grant)
        return GrantReview(
            grant=grant,
            status=grant.status_at(now),
            risk=self._deps.family(grant.family).risk(grant.scope),
            decision=self._decide_today(grant),
            requirement=requirement,
            audit=trail,
            deliveries=deliveries,
            standing=self._standing(grant, approver, requirement),
        )

    def _decide_today(self, grant: Grant) -> Decision:
        """The engine's verdict on the grant's current scope under today's ceiling."""
        family = self._deps.family(grant.family)
        ceiling = family.ceiling(self._deps.config, grant.team, grant.target)
        return family.decide(grant.request(), ceiling, team=grant.team, now=self._deps.clock())

    def _standing(self, grant: Grant, approver: str, requirement: ApprovalRequirement) -> Standing:
        """What the page offers: exactly what ``Approvals`` would accept right now."""
        status = grant.status_at(self._deps.clock())
        pending = status is GrantStatus.PENDING
        refused = self._approvals.refusal(grant, approver)
        return Standing(
            may_approve=refused is None,
            may_deny=pending and requirement.allows(approver),
            may_revoke=status is GrantStatus.ACTIVE,
            why_not=None if refused is None else _why_not(refused, requirement, status),
        )


def _why_not(refused: BrokerError, requirement: ApprovalRequirement, status: GrantStatus) -> str:
    """The refusal in the words the page uses."""
    if refused.code == "NOT_AN_APPROVER":
        names = ", ".join(sorted(requirement.approvers)) or "nobody"
        return f"you are not one of the approvers this request needs ({names})"
    if refused.code == "ALREADY_APPROVED":
        return f"you already approved; it needs {requirement.required} distinct approvers"
    if refused.code == "SELF_APPROVAL":
        return "your own chat message set off this request; another approver must approve it"
    if refused.code == "ALREADY_RESOLVED":
        return f"this request is {status.value}; it can no longer be approved"
    return refused.message
