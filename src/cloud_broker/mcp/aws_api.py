"""The AWS family of the broker API (contract §3.2): one method per endpoint, nothing more.

Bodies arrive already validated and stripped of unknown keys; this layer only adds the
``agent_id`` the endpoint needs and chooses path, query and method.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any
from urllib.parse import quote

import httpx

from cloud_broker.mcp.broker_client import BrokerClient

PREFIX = "/aws"
_URI_COMPONENT_SAFE = "!~*'()"
"""What JavaScript's encodeURIComponent leaves alone besides letters, digits and ``-_.``."""


class AwsBrokerApi:
    """Calls the ``/aws`` endpoints on behalf of one agent (``AGT_AGENT_ID``)."""

    def __init__(self, client: BrokerClient, *, agent_id: str, run_id: str | None = None) -> None:
        self._client = client
        self._agent_id = agent_id
        self._run_id = run_id

    async def describe_scope(self, account_id: str) -> Any:
        """``GET /aws/scope?account_id=…&agent_id=…``: the policy ceiling for one account."""
        return await self._client.get(f"{PREFIX}/scope", self._query(account_id=account_id))

    async def preview(self, request: Mapping[str, Any]) -> Any:
        """``POST /aws/scope/preview``: dry run; the body gets this agent's id, never a run id."""
        return await self._client.post(f"{PREFIX}/scope/preview", body={**request, "agent_id": self._agent_id})

    async def approval_channel_status(self, account_id: str) -> Any:
        """``GET /aws/approval-channel-status``: can the agent's bot post where approvers look?"""
        return await self._client.get(f"{PREFIX}/approval-channel-status", self._query(account_id=account_id))

    async def create_grant(self, request: Mapping[str, Any]) -> Any:
        """``POST /aws/grants`` with a complete body (agent_id, run_id, … already filled)."""
        return await self._client.post(f"{PREFIX}/grants", body=request)

    async def poll_grant(self, grant_id: str) -> Any:
        """``GET /aws/grants/{id}?agent_id=…``."""
        return await self._client.get(_grant_path(grant_id), self._query())

    async def release_grant(self, grant_id: str) -> Any:
        """``POST /aws/grants/{id}/release?agent_id=…`` with no body."""
        return await self._client.post(_grant_path(grant_id, "release"), query=self._query())

    async def grant_credentials(self, grant_id: str) -> Any:
        """``POST /aws/grants/{id}/credentials?agent_id=…`` with no body."""
        return await self._client.post(_grant_path(grant_id, "credentials"), query=self._query())

    async def inventory(self) -> Any:
        """``GET /aws/inventory?agent_id=…``: the accounts enrolled for this agent's team."""
        return await self._client.get(f"{PREFIX}/inventory", self._query())

    def events(self, last_event_id: str | None = None) -> AbstractAsyncContextManager[httpx.Response]:
        """``GET /aws/events?run_id=…&after=0&agent_id=…`` (SSE); an addition to the published contract.

        With a run (``AGT_RUN_ID``) the stream carries that run's grants only, from the run's first
        event: a subscriber whose first connection failed still hears what happened before the
        next one succeeded. ``last_event_id`` (sent as ``Last-Event-ID``, which the broker prefers
        to ``after``) resumes after the last event seen. Without a run the broker starts at "now".
        """
        headers = {"Last-Event-ID": last_event_id} if last_event_id else None
        query = self._query(run_id=self._run_id, after="0") if self._run_id else self._query()
        return self._client.stream(f"{PREFIX}/events", query, headers=headers)

    def _query(self, **leading: str) -> dict[str, str]:
        # Endpoint-specific keys first, agent_id last: the order observed on the wire.
        return {**leading, "agent_id": self._agent_id}


def _grant_path(grant_id: str, action: str | None = None) -> str:
    path = f"{PREFIX}/grants/{quote(grant_id, safe=_URI_COMPONENT_SAFE)}"
    return f"{path}/{action}" if action else path
