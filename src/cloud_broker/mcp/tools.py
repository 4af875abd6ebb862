"""The tool runtime: what is advertised, and what a call does, for every family's tools.

This module knows nothing of the MCP SDK: a call takes a name and raw arguments and yields a
:class:`ToolOutcome` (text + error flag), which the protocol layer turns into a result. That
keeps the rules testable without a session and lets the SDK load off the start-up path.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from cloud_broker.client.errors import BrokerCallError
from cloud_broker.mcp import descriptions as text
from cloud_broker.mcp.broker_api import BrokerApi, FamilyApi
from cloud_broker.mcp.family import Endpoint, FamilyTools, ToolSpec
from cloud_broker.mcp.inventory import RUNTIME_ONLY, render_block
from cloud_broker.mcp.turn_initiator import TurnInitiatorReader
from cloud_broker.plugins import installed_families
from cloud_broker.wire_types import describe_issues


@dataclass(frozen=True)
class ToolOutcome:
    """The text shown to the model, and whether it reports a failure."""

    text: str
    is_error: bool = False


@dataclass(frozen=True)
class ToolView:
    """One advertised tool, as of the current inventory."""

    name: str
    description: str
    input_schema: Mapping[str, Any]
    read_only: bool


@dataclass(frozen=True)
class RequestDefaults:
    """Values filled into grant requests when the caller leaves them out."""

    agent_id: str
    run_id: str
    source_context: Mapping[str, str] | None = None


GrantHook = Callable[[str, Mapping[str, Any]], Awaitable[None]]
"""Told of each grant a request tool created (its family, the reply without credentials); must not raise."""


class Toolbox:
    """Every family's tools bound to one agent, one broker and the current inventories."""

    def __init__(
        self,
        families: Mapping[str, FamilyTools],
        api: BrokerApi,
        defaults: RequestDefaults,
        initiators: TurnInitiatorReader,
        *,
        on_grant: GrantHook | None = None,
    ) -> None:
        self._families = dict(families)
        self._specs = {spec.name: (tools, spec) for tools in self._families.values() for spec in tools.specs}
        self._api = api
        self._defaults = defaults
        self._initiators = initiators
        self._on_grant = on_grant
        self._inventory_blocks: dict[str, str | None] = {}
        self._delivery: dict[str, str | None] = {}

    @property
    def families(self) -> Mapping[str, FamilyTools]:
        return self._families

    def set_inventory(self, family: str, entries: Sequence[Mapping[str, Any]], delivery: str | None = None) -> bool:
        """Render ``family``'s inventory (and how its credentials are delivered, when the broker
        says) into its descriptions; True when what is advertised changed."""
        block = render_block(entries, self._families[family])
        changed = block != self._inventory_blocks.get(family) or delivery != self._delivery.get(family)
        self._inventory_blocks[family] = block
        self._delivery[family] = delivery
        return changed

    def runtime_only(self, family: str) -> bool:
        """Whether the broker said this agent's team keeps credential values out of MCP results."""
        return self._delivery.get(family) == RUNTIME_ONLY

    def listing(self) -> list[ToolView]:
        """The tools as advertised right now, family by family."""
        return [self._view(tools, spec) for tools, spec in self._specs.values()]

    async def call(self, name: str, arguments: Mapping[str, Any] | None) -> ToolOutcome:
        """Validate, call the broker, and shape the outcome; never raises for expected failures."""
        found = self._specs.get(name)
        if found is None:
            return ToolOutcome(f"Unknown tool: {name}", is_error=True)
        tools, spec = found
        try:
            args = spec.args.model_validate(dict(arguments or {}))
        except ValidationError as exc:
            return ToolOutcome(describe_validation_error(name, exc), is_error=True)
        try:
            payload = await self._run(tools, spec.endpoint, args)
        except BrokerCallError as exc:
            return ToolOutcome(str(exc), is_error=True)
        return ToolOutcome(json.dumps(payload, indent=2, ensure_ascii=False))

    def _view(self, tools: FamilyTools, spec: ToolSpec) -> ToolView:
        block = self._inventory_blocks.get(tools.family) if spec.shows_inventory else None
        body = spec.description
        if spec.endpoint is Endpoint.CREDENTIALS and self.runtime_only(tools.family):
            body = tools.runtime_credentials_description or body
        return ToolView(spec.name, text.compose(body, block), spec.schema, spec.read_only)

    async def _run(self, tools: FamilyTools, endpoint: Endpoint, args: Any) -> Any:
        """One line of intent per endpoint; the endpoint rules live in :class:`FamilyApi`."""
        api = self._api.family(tools.family)
        fields = args.wire()
        if endpoint is Endpoint.DESCRIBE_SCOPE:
            return await api.describe_scope(fields[tools.target_field])
        if endpoint is Endpoint.PREVIEW:
            return await api.preview(fields)
        if endpoint is Endpoint.APPROVAL_CHANNEL:
            return await api.approval_channel_status(fields[tools.target_field])
        if endpoint is Endpoint.REQUEST:
            return await self._request_access(tools, api, fields)
        if endpoint is Endpoint.POLL:
            return await api.poll_grant(fields["grant_id"])
        if endpoint is Endpoint.RELEASE:
            return await api.release_grant(fields["grant_id"])
        if endpoint is Endpoint.CREDENTIALS:
            return self._withheld(tools, await api.grant_credentials(fields["grant_id"]))
        return await api.inventory()

    async def _request_access(self, tools: FamilyTools, api: FamilyApi, fields: dict[str, Any]) -> Any:
        reply = await api.create_grant(self._grant_request(tools, fields))
        # Inline credentials may come back on creation; the model must only ever see the pointer.
        if not isinstance(reply, dict):
            return reply
        public = {key: value for key, value in reply.items() if key != "credentials"}
        if self._on_grant is not None:
            await self._on_grant(tools.family, public)
        return public

    def _withheld(self, tools: FamilyTools, reply: Any) -> Any:
        """Defence in depth for a ``runtime_only`` team: should a broker answer with values
        anyway (an older one, a misconfiguration), they are dropped before the model sees them."""
        if self.runtime_only(tools.family) and isinstance(reply, dict) and "credentials" in reply:
            return {key: value for key, value in reply.items() if key != "credentials"}
        return reply

    def _grant_request(self, tools: FamilyTools, body: dict[str, Any]) -> dict[str, Any]:
        """Caller fields, then defaults for what they left out, then the file-sourced initiator.

        ``turn_initiator`` is not a declared argument, so a forged one was already dropped by
        validation; it is only ever set here, from the host runtime's files, and only for the
        families whose requests carry it (AWS, contract §5.5).
        """
        if "source_context" not in body and self._defaults.source_context:
            body["source_context"] = dict(self._defaults.source_context)
        body.setdefault("agent_id", self._defaults.agent_id)
        body.setdefault("run_id", self._defaults.run_id)
        if tools.sends_turn_initiator:
            initiator = self._initiators.read()
            if initiator is not None:
                body["turn_initiator"] = initiator
        return body


def describe_validation_error(tool: str, error: ValidationError) -> str:
    """One readable line naming each offending field; input values are not echoed back."""
    problems = describe_issues(error.errors(include_input=False, include_url=False))
    return f"Invalid arguments for tool {tool}: " + "; ".join(problems)


def tool_models(families: Mapping[str, FamilyTools] | None = None) -> dict[str, tuple[Mapping[str, Any], type[BaseModel]]]:
    """Advertised schema and enforcing model per tool (of every installed family by default);
    lets tests check they agree."""
    families = families if families is not None else installed_tools()
    return {spec.name: (spec.schema, spec.args) for tools in families.values() for spec in tools.specs}


def installed_tools() -> dict[str, FamilyTools]:
    """The tools of every installed family, by family name."""
    return {name: family.tools() for name, family in installed_families().items()}
