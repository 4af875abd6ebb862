"""The ``/aws`` routes of the contract (§3.2)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from cloud_broker.api.auth import caller_host
from cloud_broker.api.schemas import (
    AccountId,
    GrantCreateBody,
    PreviewBody,
    Uuid,
    decision_public,
    grant_public,
    timestamp,
)
from cloud_broker.api.state import broker_of
from cloud_broker.config import AwsAccount
from cloud_broker.domain.requests import DEFAULT_TTL
from cloud_broker.service.broker import Broker

router = APIRouter(prefix="/aws", tags=["aws"])

Host = Annotated[str, Depends(caller_host)]
B = Annotated[Broker, Depends(broker_of)]
AgentQ = Annotated[Uuid, Query(description="The agent the caller acts for")]
AccountQ = Annotated[AccountId, Query()]
GrantP = Annotated[Uuid, Path()]


@router.get("/inventory")
def inventory(host: Host, broker: B, agent_id: AgentQ) -> dict[str, Any]:
    agent = broker.access.agent(host, agent_id)
    accounts = broker.deps.config.accounts_for_team(agent.team)
    return {"accounts": [_account_public(a) for a in accounts]}


@router.get("/scope")
def describe_scope(host: Host, broker: B, agent_id: AgentQ, account_id: AccountQ) -> dict[str, Any]:
    agent, ceiling = broker.access.ceiling(host, agent_id, account_id)
    account = broker.deps.config.account(account_id)
    assert account is not None  # a ceiling exists only for an enrolled account
    return {
        **_account_public(account),
        "team": agent.team,
        "max_ttl_seconds": int(ceiling.max_ttl.total_seconds()),
        "default_ttl_seconds": int(DEFAULT_TTL.total_seconds()),
        "allowed_regions": list(ceiling.allowed_regions),
        "auto_approve": [
            {"name": r.name, "actions": list(r.actions), "resources": list(r.resources)} for r in ceiling.auto_approve
        ],
        "action_denylist": list(ceiling.action_denylist),
        "rule": "a request auto-approves only if every (action, resource) pair is covered by a single rule",
    }


@router.post("/scope/preview")
def preview(host: Host, broker: B, body: PreviewBody) -> dict[str, Any]:
    return decision_public(broker.access.preview(host, body.agent_id, body.to_request()))


@router.get("/approval-channel-status")
def approval_channel_status(host: Host, broker: B, agent_id: AgentQ, account_id: AccountQ) -> dict[str, Any]:
    agent, _ = broker.access.ceiling(host, agent_id, account_id)
    return broker.deps.pager.channel_status(agent.team, account_id)


@router.post("/grants")
def request_access(host: Host, broker: B, body: GrantCreateBody) -> dict[str, Any]:
    outcome = broker.access.request(host, body.agent_id, body.to_ask())
    reply = grant_public(outcome.grant, broker.deps.clock())
    reply.update(decision_public(outcome.decision))
    if outcome.page is not None:
        reply.update(outcome.page.wire())
    if outcome.repeated:
        reply["repeated_request"] = True
    return reply


@router.get("/grants/{grant_id}")
def poll_grant(host: Host, broker: B, grant_id: GrantP, agent_id: AgentQ) -> dict[str, Any]:
    return grant_public(broker.access.poll(host, agent_id, grant_id), broker.deps.clock())


@router.post("/grants/{grant_id}/release")
def release(host: Host, broker: B, grant_id: GrantP, agent_id: AgentQ) -> dict[str, Any]:
    grant, cloud = broker.access.release(host, agent_id, grant_id)
    reply: dict[str, Any] = {"grant_id": grant.grant_id, "status": grant.status_at(broker.deps.clock()).value}
    if cloud is not None:
        reply.update(cloud.wire())
    return reply


@router.post("/grants/{grant_id}/credentials")
def credentials(host: Host, broker: B, grant_id: GrantP, agent_id: AgentQ) -> dict[str, Any]:
    grant, values = broker.access.credentials(host, agent_id, grant_id)
    assert grant.expires_at is not None
    return {"grant_id": grant.grant_id, "expires_at": timestamp(grant.expires_at), "credentials": values}


def _account_public(account: AwsAccount) -> dict[str, Any]:
    body: dict[str, Any] = {"account_id": account.account_id, "display_name": account.display_name}
    if account.description:
        body["description"] = account.description
    body["default_region"] = account.default_region
    body["allowed_regions"] = list(account.allowed_regions)
    return body
