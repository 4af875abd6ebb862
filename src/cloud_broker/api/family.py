"""What the HTTP API asks of a family: its bodies, its target's query parameter, its replies.

The routes themselves are shared (``api.routes_family``): every family answers the same paths
under its own prefix (``/aws/scope``, ``/gcp/scope``, …) with the same lifecycle behind them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from cloud_broker.api.schemas import GrantFields, PreviewFields
    from cloud_broker.config import BrokerConfig
    from cloud_broker.domain.grants import Grant
    from cloud_broker.service.family import FamilyWords


@dataclass(frozen=True)
class FamilyWire:
    """A family's part of the HTTP surface (contract §3.2)."""

    # The target as a query parameter: a FastAPI dependency returning it (``account_id=…``); a
    # coroutine, so that FastAPI does not send it to the thread pool (``api.state``).
    target_query: Callable[..., Awaitable[str]]
    preview_body: type[PreviewFields]
    grant_body: type[GrantFields]
    # Whether poll, release and credentials name the agent (AWS) or not (GCP: the host's
    # token is the authority, and any of its agents' grants may be read).
    agent_on_grant_routes: bool
    # ``{"accounts": [...]}`` / ``{"projects": [...]}``: the targets of one team.
    inventory: Callable[[BrokerConfig, str], dict[str, Any]]
    # The describe-scope reply for (team, target, ceiling).
    describe_scope: Callable[[BrokerConfig, str, str, Any], dict[str, Any]]
    # What the family says of a grant besides its scope, in every grant reply (GCP: what bounds
    # the token, ``enforced_by``). Must be cheap: polls call it.
    grant_facts: Callable[[Grant], dict[str, Any]] = lambda grant: {}
    # For a ``runtime_only`` team, what ``*_get_credentials`` says instead of the values: how the
    # runtime resolves this ``secret_ref`` (commands, the variables they set). Never a value.
    runtime_use: Callable[[str], dict[str, Any]] = lambda ref: generic_runtime_use(ref)
    # What the resolver needs besides the values to present them as the cloud's own tools expect
    # (GCP: the service account the metadata endpoint names). Never a value.
    resolution_facts: Callable[[BrokerConfig, Grant], dict[str, Any]] = lambda config, grant: {}


def generic_runtime_use(ref: str) -> dict[str, Any]:
    """The resolution every family supports: one command run with the values in its environment."""
    return {"exec": f"cloud-broker exec {ref} -- <command> [args…]"}


class WireFamily(Protocol):
    name: str
    words: FamilyWords

    def wire(self) -> FamilyWire: ...
