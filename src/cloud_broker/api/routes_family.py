"""The routes every family answers under its prefix (contract §3.2): one lifecycle, many clouds.

Built per family from its ``FamilyWire``: the bodies and the target's query parameter are the
family's, the behaviour behind them the shared service's. (No ``from __future__ import
annotations`` here: the route functions close over the family's models, and FastAPI reads
their annotations as objects.)
"""

from typing import Annotated, Any, cast

from fastapi import APIRouter, Depends, Path, Query, Response

from cloud_broker.api.auth import caller_host
from cloud_broker.api.family import WireFamily
from cloud_broker.api.schemas import (
    GrantFields,
    PreviewFields,
    absent_when_none,
    decision_public,
    grant_public,
    timestamp,
)
from cloud_broker.api.state import broker_of
from cloud_broker.api.timing import add_provider_time
from cloud_broker.domain.delivery import CredentialsDelivery
from cloud_broker.service.broker import Broker
from cloud_broker.vault import format_secret_ref
from cloud_broker.wire_types import Uuid

Host = Annotated[str, Depends(caller_host)]
B = Annotated[Broker, Depends(broker_of)]
AgentQ = Annotated[Uuid, Query(description="The agent the caller acts for")]
OptionalAgentQ = Annotated[Uuid | None, Query(description="The agent the caller acts for; when left out, any of "
                                                          "the calling host's agents"), absent_when_none(Uuid)]
GrantP = Annotated[Uuid, Path()]
RUNTIME_ONLY_NOTE = ("Your team keeps credential values out of the conversation: they are not returned here. "
                     "Run commands through one of the resolve commands below; they fetch the values when the "
                     "command needs them. Never try to print or copy the values.")


async def _named_agent(agent_id: AgentQ) -> str | None:
    return agent_id


async def _any_agent(agent_id: OptionalAgentQ = None) -> str | None:
    return agent_id


def family_router(family: WireFamily) -> APIRouter:
    wire = family.wire()
    name, words = family.name, family.words
    router = APIRouter(prefix=f"/{name}", tags=[name])
    Target = Annotated[str, Depends(wire.target_query)]
    PreviewBody = wire.preview_body
    GrantBody = wire.grant_body
    GrantAgent = Annotated[str | None, Depends(_named_agent if wire.agent_on_grant_routes else _any_agent)]

    @router.get("/inventory")
    def inventory(host: Host, broker: B, agent_id: AgentQ) -> dict[str, Any]:
        agent = broker.access.agent(host, agent_id)
        reply = wire.inventory(broker.deps.config, agent.team)
        # Beside the contract's array, for a runtime_only team only (an inline team's reply is
        # today's): an MCP server says so in its tool descriptions; the published client ignores it.
        delivery = broker.deps.config.credentials_delivery(agent.team)
        if delivery is CredentialsDelivery.RUNTIME_ONLY:
            reply["credentials_delivery"] = delivery.value
        return reply

    @router.get("/scope")
    def describe_scope(host: Host, broker: B, agent_id: AgentQ, target: Target) -> dict[str, Any]:
        agent, ceiling = broker.access.ceiling(host, agent_id, name, target)
        return wire.describe_scope(broker.deps.config, agent.team, target, ceiling)

    @router.post("/scope/preview")
    def preview(host: Host, broker: B, body: PreviewBody) -> dict[str, Any]:  # type: ignore[valid-type]
        fields = cast(PreviewFields, body)
        return decision_public(broker.access.preview(host, fields.agent_id, fields.to_request()))

    @router.get("/approval-channel-status")
    def approval_channel_status(host: Host, broker: B, agent_id: AgentQ, target: Target) -> dict[str, Any]:
        agent, _ = broker.access.ceiling(host, agent_id, name, target)
        return broker.deps.pager.channel_status(name, agent.team, target)

    @router.post("/grants")
    def request_access(host: Host, broker: B, body: GrantBody,  # type: ignore[valid-type]
                       response: Response) -> dict[str, Any]:
        fields = cast(GrantFields, body)
        outcome = broker.access.request(host, fields.agent_id, fields.to_ask())
        add_provider_time(response, outcome.provider_time)
        reply = grant_public(outcome.grant, broker.deps.clock(), words)
        reply.update(wire.grant_facts(outcome.grant))
        reply.update(decision_public(outcome.decision))
        if outcome.page is not None:
            reply.update(outcome.page.wire())
        if outcome.repeated:
            reply["repeated_request"] = True
        return reply

    @router.get("/grants/{grant_id}")
    def poll_grant(host: Host, broker: B, grant_id: GrantP, agent_id: GrantAgent) -> dict[str, Any]:
        grant = broker.access.poll(host, agent_id, grant_id, name)
        return {**grant_public(grant, broker.deps.clock(), words), **wire.grant_facts(grant)}

    @router.post("/grants/{grant_id}/release")
    def release(host: Host, broker: B, grant_id: GrantP, agent_id: GrantAgent) -> dict[str, Any]:
        grant, cloud = broker.access.release(host, agent_id, grant_id, name)
        reply: dict[str, Any] = {"grant_id": grant.grant_id, "status": grant.status_at(broker.deps.clock()).value}
        if cloud is not None:
            reply.update(cloud.wire())
        return reply

    @router.post("/grants/{grant_id}/credentials")
    def credentials(host: Host, broker: B, grant_id: GrantP, agent_id: GrantAgent) -> dict[str, Any]:
        grant, values = broker.access.credentials(host, agent_id, grant_id, name)
        assert grant.expires_at is not None
        reply = {"grant_id": grant.grant_id, "expires_at": timestamp(grant.expires_at)}
        if values is None:
            # runtime_only: a 200 with the pointer and how to resolve it; clients that pass the
            # reply through (ours, the published one) show the model exactly this.
            ref = format_secret_ref(grant.family, grant.run_id, grant.grant_id)
            return {**reply, "credentials_delivery": "runtime_only", "secret_ref": ref,
                    "note": RUNTIME_ONLY_NOTE, "resolve": wire.runtime_use(ref), **wire.grant_facts(grant)}
        return {**reply, "credentials": values, **wire.grant_facts(grant)}

    return router
