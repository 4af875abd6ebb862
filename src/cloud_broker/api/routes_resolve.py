"""``POST /secret-refs/resolve``: the runtime's resolver turns a pointer into values.

Not part of the published contract, and called by no MCP tool (ours or the published one): it
exists for ``cloud-broker credential-process``, ``exec`` and the local credential endpoints,
which run in the agent's runtime, outside the model's transcript. It authenticates exactly as
every route does (the host's token), and the body names the agent the host acts for; the
service checks the grant is that agent's, of the pointer's run, and usable, and writes a
``credentials.resolved`` audit row naming the mechanism. (No ``from __future__ import
annotations``: FastAPI reads the route's annotations as objects.)
"""

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import StringConstraints

from cloud_broker.api.auth import caller_host
from cloud_broker.api.family import WireFamily
from cloud_broker.api.schemas import Strict, timestamp
from cloud_broker.api.state import broker_of
from cloud_broker.domain.delivery import ResolveMechanism
from cloud_broker.service.broker import Broker
from cloud_broker.service.resolution import REF_PATTERN
from cloud_broker.wire_types import Uuid

RESOLVE_PATH = "/secret-refs/resolve"


class ResolveBody(Strict):
    # The shape is in the document too, so a client (or a fuzzer) knows what is acceptable; the
    # service checks it again, as it serves other callers.
    secret_ref: Annotated[str, StringConstraints(pattern=REF_PATTERN, max_length=512)]
    agent_id: Uuid
    mechanism: ResolveMechanism


def resolve_router(families: Mapping[str, WireFamily]) -> APIRouter:
    """The route, with each family's wire to add what its resolver presents besides the values."""
    router = APIRouter(tags=["runtime"])

    @router.post(RESOLVE_PATH)
    def resolve(host: Annotated[str, Depends(caller_host)], broker: Annotated[Broker, Depends(broker_of)],
                body: ResolveBody) -> dict[str, Any]:
        """The values of the grant behind ``secret_ref``, for its own agent's runtime only."""
        found = broker.secret_refs.resolve(host, body.agent_id, body.secret_ref, body.mechanism)
        grant = found.grant
        assert grant.expires_at is not None
        facts = families[grant.family].wire().resolution_facts(broker.deps.config, grant)
        return {"grant_id": grant.grant_id, "family": grant.family, "target": grant.target,
                "expires_at": timestamp(grant.expires_at), "credentials": found.values, **facts}

    return router
