"""The broker API as the tools call it (contract §3.2): one method per endpoint, nothing more.

Bodies arrive already validated and stripped of unknown keys; this layer only adds the
``agent_id`` the endpoint needs and chooses path, query and method. Every family's endpoints
have the same shape under its prefix; what differs (the target's name, whether grant routes
name the agent) comes from its :class:`~cloud_broker.mcp.family.FamilyTools`.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any
from urllib.parse import quote

import httpx

from cloud_broker.client.broker_client import BrokerClient
from cloud_broker.mcp.family import FamilyTools

_URI_COMPONENT_SAFE = "!~*'()"
"""What JavaScript's encodeURIComponent leaves alone besides letters, digits and ``-_.``."""
EVENTS_PATH = "/aws/events"
"""The broker's event stream (every family's grants). Brokers also answer ``/events``; this
older path is the one every broker version serves."""


class FamilyApi:
    """Calls one family's endpoints on behalf of one agent (``AGT_AGENT_ID``)."""

    def __init__(self, client: BrokerClient, tools: FamilyTools, *, agent_id: str) -> None:
        self._client = client
        self._tools = tools
        self._prefix = f"/{tools.family}"
        self._agent_id = agent_id

    @property
    def family(self) -> str:
        return self._tools.family

    @property
    def tools(self) -> FamilyTools:
        return self._tools

    async def describe_scope(self, target: str) -> Any:
        """``GET /{family}/scope?{target}=…&agent_id=…``: the policy ceiling for one target."""
        return await self._client.get(f"{self._prefix}/scope", self._query(**{self._tools.target_field: target}))

    async def preview(self, request: Mapping[str, Any]) -> Any:
        """``POST /{family}/scope/preview``: dry run; the body gets this agent's id, never a run id."""
        return await self._client.post(f"{self._prefix}/scope/preview", body={**request, "agent_id": self._agent_id})

    async def approval_channel_status(self, target: str) -> Any:
        """``GET /{family}/approval-channel-status``: can the agent's bot post where approvers look?"""
        return await self._client.get(f"{self._prefix}/approval-channel-status",
                                      self._query(**{self._tools.target_field: target}))

    async def create_grant(self, request: Mapping[str, Any]) -> Any:
        """``POST /{family}/grants`` with a complete body (agent_id, run_id, … already filled)."""
        return await self._client.post(f"{self._prefix}/grants", body=request)

    async def poll_grant(self, grant_id: str) -> Any:
        """``GET /{family}/grants/{id}`` (``?agent_id=…`` where the family's routes take it)."""
        return await self._client.get(self._grant_path(grant_id), self._grant_query())

    async def release_grant(self, grant_id: str) -> Any:
        """``POST /{family}/grants/{id}/release`` with no body."""
        return await self._client.post(self._grant_path(grant_id, "release"), query=self._grant_query())

    async def grant_credentials(self, grant_id: str) -> Any:
        """``POST /{family}/grants/{id}/credentials`` with no body."""
        return await self._client.post(self._grant_path(grant_id, "credentials"), query=self._grant_query())

    async def inventory(self) -> Any:
        """``GET /{family}/inventory?agent_id=…``: the targets enrolled for this agent's team."""
        return await self._client.get(f"{self._prefix}/inventory", self._query())

    def _query(self, **leading: str) -> dict[str, str]:
        # Endpoint-specific keys first, agent_id last: the order observed on the wire.
        return {**leading, "agent_id": self._agent_id}

    def _grant_query(self) -> dict[str, str] | None:
        return self._query() if self._tools.agent_on_grant_routes else None

    def _grant_path(self, grant_id: str, action: str | None = None) -> str:
        path = f"{self._prefix}/grants/{quote(grant_id, safe=_URI_COMPONENT_SAFE)}"
        return f"{path}/{action}" if action else path


class BrokerApi:
    """Every family's endpoints for one agent and run, and the event stream they share."""

    def __init__(self, client: BrokerClient, families: Mapping[str, FamilyTools], *, agent_id: str,
                 run_id: str | None = None) -> None:
        self._client = client
        self._agent_id = agent_id
        self._run_id = run_id
        self.families = {name: FamilyApi(client, tools, agent_id=agent_id) for name, tools in families.items()}

    def family(self, name: str) -> FamilyApi:
        return self.families[name]

    def events(self, last_event_id: str | None = None) -> AbstractAsyncContextManager[httpx.Response]:
        """``GET /aws/events?run_id=…&after=0&agent_id=…`` (SSE); an addition to the published contract.

        With a run (``AGT_RUN_ID``) the stream carries that run's grants only, from the run's first
        event: a subscriber whose first connection failed still hears what happened before the
        next one succeeded. ``last_event_id`` (sent as ``Last-Event-ID``, which the broker prefers
        to ``after``) resumes after the last event seen. Without a run the broker starts at "now".
        """
        headers = {"Last-Event-ID": last_event_id} if last_event_id else None
        query = {"run_id": self._run_id, "after": "0"} if self._run_id else {}
        return self._client.stream(EVENTS_PATH, {**query, "agent_id": self._agent_id}, headers=headers)
