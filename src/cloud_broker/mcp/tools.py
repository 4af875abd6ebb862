"""The AWS tool catalogue: what is advertised, and what a call does.

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

from cloud_broker.mcp import descriptions as text
from cloud_broker.mcp import schemas
from cloud_broker.mcp.aws_api import AwsBrokerApi
from cloud_broker.mcp.errors import BrokerCallError
from cloud_broker.mcp.inventory import render_block
from cloud_broker.mcp.turn_initiator import TurnInitiatorReader
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


Handler = Callable[["AwsToolbox", Any], Awaitable[Any]]
GrantHook = Callable[[Mapping[str, Any]], Awaitable[None]]
"""Told of each grant ``aws_request_access`` created (reply without credentials); must not raise."""


@dataclass(frozen=True)
class _Spec:
    name: str
    body: str
    schema: Mapping[str, Any]
    args: type[schemas.ToolArgs]
    handler: Handler
    read_only: bool = False
    shows_inventory: bool = False


class AwsToolbox:
    """The eight ``aws_*`` tools bound to one agent, one broker and the current inventory."""

    def __init__(
        self,
        api: AwsBrokerApi,
        defaults: RequestDefaults,
        initiators: TurnInitiatorReader,
        *,
        on_grant: GrantHook | None = None,
    ) -> None:
        self._api = api
        self._defaults = defaults
        self._initiators = initiators
        self._on_grant = on_grant
        self._inventory_block: str | None = None

    def set_inventory(self, accounts: Sequence[Mapping[str, Any]]) -> bool:
        """Render the inventory into the descriptions; True when what is advertised changed."""
        block = render_block(accounts)
        changed = block != self._inventory_block
        self._inventory_block = block
        return changed

    def listing(self) -> list[ToolView]:
        """The tools as advertised right now."""
        return [self._view(spec) for spec in _SPECS.values()]

    async def call(self, name: str, arguments: Mapping[str, Any] | None) -> ToolOutcome:
        """Validate, call the broker, and shape the outcome; never raises for expected failures."""
        spec = _SPECS.get(name)
        if spec is None:
            return ToolOutcome(f"Unknown tool: {name}", is_error=True)
        try:
            args = spec.args.model_validate(dict(arguments or {}))
        except ValidationError as exc:
            return ToolOutcome(describe_validation_error(name, exc), is_error=True)
        try:
            payload = await spec.handler(self, args)
        except BrokerCallError as exc:
            return ToolOutcome(str(exc), is_error=True)
        return ToolOutcome(json.dumps(payload, indent=2, ensure_ascii=False))

    def _view(self, spec: _Spec) -> ToolView:
        block = self._inventory_block if spec.shows_inventory else None
        return ToolView(spec.name, text.compose(spec.body, block), spec.schema, spec.read_only)

    # --- handlers: one line of intent each, the endpoint rules live in AwsBrokerApi ---

    async def _describe_scope(self, args: schemas.AccountArgs) -> Any:
        return await self._api.describe_scope(args.account_id)

    async def _preview(self, args: schemas.PreviewArgs) -> Any:
        return await self._api.preview(args.wire())

    async def _approval_channel(self, args: schemas.AccountArgs) -> Any:
        return await self._api.approval_channel_status(args.account_id)

    async def _request_access(self, args: schemas.RequestArgs) -> Any:
        reply = await self._api.create_grant(self._grant_request(args))
        # Inline credentials may come back on creation; the model must only ever see the pointer.
        if not isinstance(reply, dict):
            return reply
        public = {key: value for key, value in reply.items() if key != "credentials"}
        if self._on_grant is not None:
            await self._on_grant(public)
        return public

    async def _poll(self, args: schemas.GrantArgs) -> Any:
        return await self._api.poll_grant(args.grant_id)

    async def _release(self, args: schemas.GrantArgs) -> Any:
        return await self._api.release_grant(args.grant_id)

    async def _credentials(self, args: schemas.GrantArgs) -> Any:
        return await self._api.grant_credentials(args.grant_id)

    async def _list_accounts(self, args: schemas.NoArgs) -> Any:
        return await self._api.inventory()

    def _grant_request(self, args: schemas.RequestArgs) -> dict[str, Any]:
        """Caller fields, then defaults for what they left out, then the file-sourced initiator.

        ``turn_initiator`` is not a declared argument, so a forged one was already dropped by
        validation; it is only ever set here, from the host runtime's files.
        """
        body = args.wire()
        if "source_context" not in body and self._defaults.source_context:
            body["source_context"] = dict(self._defaults.source_context)
        body.setdefault("agent_id", self._defaults.agent_id)
        body.setdefault("run_id", self._defaults.run_id)
        initiator = self._initiators.read()
        if initiator is not None:
            body["turn_initiator"] = initiator
        return body


def describe_validation_error(tool: str, error: ValidationError) -> str:
    """One readable line naming each offending field; input values are not echoed back."""
    problems = describe_issues(error.errors(include_input=False, include_url=False))
    return f"Invalid arguments for tool {tool}: " + "; ".join(problems)


_SPECS: dict[str, _Spec] = {
    spec.name: spec
    for spec in (
        _Spec("aws_describe_scope", text.DESCRIBE_SCOPE, schemas.ACCOUNT_SCHEMA, schemas.AccountArgs,
              AwsToolbox._describe_scope, read_only=True, shows_inventory=True),
        _Spec("aws_preview_request", text.PREVIEW_REQUEST, schemas.PREVIEW_SCHEMA, schemas.PreviewArgs,
              AwsToolbox._preview, read_only=True),
        _Spec("aws_check_approval_channel", text.CHECK_APPROVAL_CHANNEL, schemas.ACCOUNT_SCHEMA,
              schemas.AccountArgs, AwsToolbox._approval_channel, read_only=True, shows_inventory=True),
        _Spec("aws_request_access", text.REQUEST_ACCESS, schemas.REQUEST_SCHEMA, schemas.RequestArgs,
              AwsToolbox._request_access, shows_inventory=True),
        _Spec("aws_poll_grant", text.POLL_GRANT, schemas.GRANT_SCHEMA, schemas.GrantArgs,
              AwsToolbox._poll, read_only=True),
        _Spec("aws_release_access", text.RELEASE_ACCESS, schemas.GRANT_SCHEMA, schemas.GrantArgs,
              AwsToolbox._release),
        _Spec("aws_get_credentials", text.GET_CREDENTIALS, schemas.GRANT_SCHEMA, schemas.GrantArgs,
              AwsToolbox._credentials),
        _Spec("aws_list_accounts", text.LIST_ACCOUNTS, schemas.NO_ARGS_SCHEMA, schemas.NoArgs,
              AwsToolbox._list_accounts, read_only=True),
    )
}
"""The catalogue, in advertised order. A constant table, not mutable state."""


def tool_models() -> dict[str, tuple[Mapping[str, Any], type[BaseModel]]]:
    """Advertised schema and enforcing model per tool; lets tests check they agree."""
    return {name: (spec.schema, spec.args) for name, spec in _SPECS.items()}
