"""What a page or a push says about a grant, built once and rendered per channel.

Everything here is plain data. Agent-written text (reason, task id, resource names) is
carried as-is; each renderer (Slack mrkdwn, HTML, JSON) is responsible for making it inert.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cloud_broker.domain.grants import Grant
from cloud_broker.policy.risk import RiskSummary, assess

if TYPE_CHECKING:
    from cloud_broker.service.deps import Deps


@dataclass(frozen=True)
class ApprovalCard:
    grant_id: str
    status: str
    team: str
    account_id: str
    account_name: str
    agent_id: str
    agent_name: str
    run_id: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    regions: tuple[str, ...]
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

    def to_json(self) -> dict[str, Any]:
        """The card as a webhook body carries it."""
        return {
            "grant_id": self.grant_id, "status": self.status, "team": self.team,
            "account_id": self.account_id, "account_name": self.account_name,
            "agent_id": self.agent_id, "agent_name": self.agent_name, "run_id": self.run_id,
            "task_id": self.task_id, "reason": self.reason, "source_context": self.source_context,
            "actions": list(self.actions), "resources": list(self.resources), "regions": list(self.regions),
            "ttl_seconds": self.ttl_seconds, "pending_expires_at": self.pending_expires_at,
            "required_approvals": self.required_approvals, "approvals": list(self.approvals),
            "risk": {
                "highest_access_level": self.risk.highest_level,
                "access_levels": self.risk.level_counts,
                "wildcard_actions": list(self.risk.wildcard_actions),
                "wildcard_resources": list(self.risk.wildcard_resources),
                "sensitive_services": list(self.risk.sensitive),
                "summary": self.risk.headline(),
            },
            "console_url": self.console_url, "resolution": self.resolution,
        }


def card_for(deps: Deps, grant: Grant, *, required_approvals: int = 1, resolution: str | None = None) -> ApprovalCard:
    config = deps.config
    account = config.account(grant.account_id)
    agent = config.agent(grant.agent_id)
    base = config.broker.public_url
    return ApprovalCard(
        grant_id=grant.grant_id,
        status=grant.status_at(deps.clock()).value,
        team=grant.team,
        account_id=grant.account_id,
        account_name=account.display_name if account else grant.account_id,
        agent_id=grant.agent_id,
        agent_name=agent.name if agent else grant.agent_id,
        run_id=grant.run_id,
        actions=grant.actions,
        resources=grant.resources,
        regions=grant.regions,
        ttl_seconds=int(grant.ttl.total_seconds()),
        risk=assess(grant.actions, grant.resources, deps.catalogue),
        required_approvals=required_approvals,
        approvals=grant.approvals,
        task_id=grant.task_id,
        reason=grant.reason,
        source_context=grant.source_context,
        pending_expires_at=grant.pending_expires_at.isoformat() if grant.pending_expires_at else None,
        console_url=f"{base.rstrip('/')}/console/grants/{grant.grant_id}" if base else None,
        resolution=resolution,
    )
