"""What a page or a push says about a grant, built once and rendered per channel.

The outcome line ("approved by alice", "1 of 2 approvals") and the approval count are made
here only, so the Slack card, the webhook body and the reply to a Slack click never disagree.
Everything here is plain data. Agent-written text (reason, task id, resource names) is
carried as-is; each renderer (Slack mrkdwn, HTML, JSON) is responsible for making it inert.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cloud_broker.domain.grants import Grant, GrantStatus
from cloud_broker.domain.scope import ScopeField, document
from cloud_broker.policy.approval import approval_requirement
from cloud_broker.policy.risk import RiskSummary
from cloud_broker.service.family import Target, target_of

if TYPE_CHECKING:
    from cloud_broker.service.deps import Deps


@dataclass(frozen=True)
class ApprovalCard:
    grant_id: str
    status: str
    team: str
    target: Target
    agent_id: str
    agent_name: str
    run_id: str
    # The family's scope lists in its order (the first holds the actions), and how each is shown.
    scope: dict[str, tuple[str, ...]]
    fields: tuple[ScopeField, ...]
    ttl_seconds: int
    risk: RiskSummary
    required_approvals: int
    approvals: tuple[str, ...]
    task_id: str | None = None
    reason: str | None = None
    source_context: dict[str, Any] | None = None
    pending_expires_at: str | None = None
    console_url: str | None = None
    # Set once resolved: "approved by alice", "denied by bob: too broad", "expired".
    resolution: str | None = None

    @property
    def actions(self) -> tuple[str, ...]:
        return self.scope.get(self.fields[0].key, ()) if self.fields else ()

    def to_json(self) -> dict[str, Any]:
        """The card as a webhook body carries it."""
        return {
            "grant_id": self.grant_id, "status": self.status, "team": self.team, **self.target.to_json(),
            "agent_id": self.agent_id, "agent_name": self.agent_name, "run_id": self.run_id,
            "task_id": self.task_id, "reason": self.reason, "source_context": self.source_context,
            **document(self.scope),
            "ttl_seconds": self.ttl_seconds, "pending_expires_at": self.pending_expires_at,
            "required_approvals": self.required_approvals, "approvals": list(self.approvals),
            "risk": {
                "highest_access_level": self.risk.highest_level,
                "access_levels": self.risk.level_counts,
                "wildcard_actions": list(self.risk.wildcard_actions),
                "wildcard_resources": list(self.risk.wildcard_resources),
                "sensitive_services": list(self.risk.sensitive),
                "notes": list(self.risk.notes),
                "summary": self.risk.headline(),
            },
            "console_url": self.console_url, "resolution": self.resolution,
        }


@dataclass(frozen=True)
class BatchSummary:
    """What a ceiling's approvers are told, once per page window, about the requests beyond the
    window's page limit (see ``notify.page_limit``): how many, where, and where to review them."""

    team: str
    target: Target
    # Requests counted into the summary so far (those beyond the limit), not every pending one.
    count: int
    window_start: datetime
    window_end: datetime
    page_limit: int
    console_url: str | None = None

    @property
    def window_minutes(self) -> int:
        return max(1, round((self.window_end - self.window_start).total_seconds() / 60))

    def headline(self) -> str:
        """"3 more access requests for team data on account Sandbox (123…) arrived since 12:00 UTC"."""
        noun = "request" if self.count == 1 else "requests"
        return (f"{self.count} more access {noun} for team {self.team} on {self.target.kind} {self.target.name} "
                f"({self.target.id}) arrived since {self.window_start:%H:%M} UTC")

    def text(self) -> str:
        """The whole message in plain words (webhook bodies, logs)."""
        where = f"in the console: {self.console_url}" if self.console_url else "in the cloud-broker console"
        return (f"{self.headline()}: more than {self.page_limit} in {self.window_minutes} minutes, so until "
                f"{self.window_end:%H:%M} UTC they are not paged one by one. Review them {where}")

    def to_json(self) -> dict[str, Any]:
        return {
            "team": self.team, **self.target.to_json(),
            "count": self.count, "window_start": self.window_start.isoformat(),
            "window_end": self.window_end.isoformat(), "page_limit": self.page_limit,
            "console_url": self.console_url, "message": self.text(),
        }


def required_approvals(deps: Deps, grant: Grant) -> int:
    """How many distinct approvals ``grant`` needs under today's ceiling (1 without one), as the
    approval service counts them (``Approvals.requirement`` applies the same policy function)."""
    family = deps.family(grant.family)
    ceiling = family.ceiling(deps.config, grant.team, grant.target)
    return approval_requirement(family.approval_actions(grant.scope), ceiling, family.levels_of).required \
        if ceiling else 1


def resolution_text(grant: Grant, status: GrantStatus, required: int) -> str:
    """The outcome line of a card: "approved by alice", "denied by bob: too broad", "1 of 2 approvals"."""
    approvers = ", ".join(grant.approvals)
    by = f" by {grant.approver}" if grant.approver else ""
    if status in (GrantStatus.ACTIVE, GrantStatus.MINTING):
        return f"approved by {approvers}" if approvers else "approved"
    if status is GrantStatus.DENIED:
        return f"denied{by}: {grant.denial_reason}" if grant.denial_reason else f"denied{by}"
    if status is GrantStatus.EXPIRED:
        return "expired"
    if status is GrantStatus.REVOKED:
        return grant.denial_reason or "released by the agent"
    if status is GrantStatus.FAILED:
        return f"failed: {grant.denial_reason or 'minting failed'}"
    if grant.approvals:
        return f"{len(grant.approvals)} of {required} approvals ({approvers})"
    return "waiting for approval"


def card_for(deps: Deps, grant: Grant, *, required_approvals: int = 1, resolution: str | None = None) -> ApprovalCard:
    """The card of ``grant`` as it is now; ``resolution`` is its outcome line, once there is one."""
    config = deps.config
    family = deps.family(grant.family)
    agent = config.agent(grant.agent_id)
    base = config.broker.public_url
    return ApprovalCard(
        grant_id=grant.grant_id,
        status=grant.status_at(deps.clock()).value,
        team=grant.team,
        target=target_of(deps, grant.family, grant.target),
        agent_id=grant.agent_id,
        agent_name=agent.name if agent else grant.agent_id,
        run_id=grant.run_id,
        scope=dict(grant.scope),
        fields=family.scope_fields,
        ttl_seconds=int(grant.ttl.total_seconds()),
        risk=family.risk(grant.scope),
        required_approvals=required_approvals,
        approvals=grant.approvals,
        task_id=grant.task_id,
        reason=grant.reason,
        source_context=grant.source_context,
        pending_expires_at=grant.pending_expires_at.isoformat() if grant.pending_expires_at else None,
        console_url=f"{base.rstrip('/')}/console/grants/{grant.grant_id}" if base else None,
        resolution=resolution,
    )
