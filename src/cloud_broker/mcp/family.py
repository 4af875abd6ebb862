"""What the MCP server asks of a family: its tools, and how its inventory reads.

Every family offers the same eight tools under its prefix (``aws_describe_scope``,
``gcp_describe_scope``, …), each calling one broker endpoint of the same shape; the runtime
that validates, calls and shapes results is shared (:mod:`cloud_broker.mcp.tools`). The family
brings the names, descriptions, input schemas and argument models, and its inventory's words.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from cloud_broker.mcp.schemas import ToolArgs


class Endpoint(StrEnum):
    """The broker endpoint a tool calls (contract §3.2), the same for every family."""

    DESCRIBE_SCOPE = "describe_scope"
    PREVIEW = "preview"
    APPROVAL_CHANNEL = "approval_channel"
    REQUEST = "request"
    POLL = "poll"
    RELEASE = "release"
    CREDENTIALS = "credentials"
    INVENTORY = "inventory"


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    schema: Mapping[str, Any]
    args: type[ToolArgs]
    endpoint: Endpoint
    read_only: bool = False
    shows_inventory: bool = False


@dataclass(frozen=True)
class FamilyTools:
    """One family's tools and the facts the runtime needs to call them."""

    family: str
    # The target's argument and query name ("account_id", "project_id").
    target_field: str
    # "AWS account", "GCP project": for grant resources' descriptions.
    target_noun: str
    specs: tuple[ToolSpec, ...]
    # The inventory reply's array ("accounts", "projects") and the heading of its block.
    inventory_key: str
    inventory_heading: str
    # The parenthesised extra of an inventory bullet (default region, service account e-mail).
    inventory_extra: Callable[[Mapping[str, Any]], str | None]
    # Whether poll, release and credentials name the agent in their query (ours always do; the
    # published client does not for GCP, and the broker accepts both).
    agent_on_grant_routes: bool = True
    # Whether grant requests carry the host runtime's ``turn_initiator`` (AWS only, §5.5).
    sends_turn_initiator: bool = False
    # The ``*_get_credentials`` description when the team is ``runtime_only``: the reply is the
    # pointer and how the runtime resolves it, never the values.
    runtime_credentials_description: str | None = None

    def spec(self, endpoint: Endpoint) -> ToolSpec:
        return next(spec for spec in self.specs if spec.endpoint is endpoint)


class ToolFamily(Protocol):
    name: str

    def tools(self) -> FamilyTools: ...
