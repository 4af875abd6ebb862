"""The eight tools every family offers, built from its words and its argument models.

Names, endpoints and hints are the same for every family (``aws_describe_scope``,
``gcp_describe_scope``, …): a family gives its prefix, its descriptions, its target and scope
properties and the models that enforce them; nothing else varies.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cloud_broker.mcp.family import Endpoint, ToolSpec
from cloud_broker.mcp.schemas import (
    NO_ARGS_SCHEMA,
    GrantArgs,
    NoArgs,
    ToolArgs,
    grant_schema,
    object_schema,
    preview_schema,
    request_schema,
)

# (name suffix, read-only, shows the inventory) per endpoint, in advertised order.
_SHAPES: tuple[tuple[Endpoint, str, bool, bool], ...] = (
    (Endpoint.DESCRIBE_SCOPE, "describe_scope", True, True),
    (Endpoint.PREVIEW, "preview_request", True, False),
    (Endpoint.APPROVAL_CHANNEL, "check_approval_channel", True, True),
    (Endpoint.REQUEST, "request_access", False, True),
    (Endpoint.POLL, "poll_grant", True, False),
    (Endpoint.RELEASE, "release_access", False, False),
    (Endpoint.CREDENTIALS, "get_credentials", False, False),
    (Endpoint.INVENTORY, "list_accounts", True, False),
)


def family_specs(prefix: str, descriptions: Mapping[Endpoint, str], *, target: dict[str, Any],
                 scope: dict[str, Any], ttl: dict[str, Any], target_args: type[ToolArgs],
                 preview_args: type[ToolArgs], request_args: type[ToolArgs]) -> tuple[ToolSpec, ...]:
    """``target``: the one target property (``{"account_id": {...}}``); ``scope``: the lists."""
    target_schema = object_schema(target, list(target))
    grants = grant_schema(f"{prefix}_request_access")
    shapes: dict[Endpoint, tuple[dict[str, Any], type[ToolArgs]]] = {
        Endpoint.DESCRIBE_SCOPE: (target_schema, target_args),
        Endpoint.PREVIEW: (preview_schema(target, scope, ttl), preview_args),
        Endpoint.APPROVAL_CHANNEL: (target_schema, target_args),
        Endpoint.REQUEST: (request_schema(target, scope, ttl), request_args),
        Endpoint.POLL: (grants, GrantArgs),
        Endpoint.RELEASE: (grants, GrantArgs),
        Endpoint.CREDENTIALS: (grants, GrantArgs),
        Endpoint.INVENTORY: (NO_ARGS_SCHEMA, NoArgs),
    }
    return tuple(ToolSpec(f"{prefix}_{suffix}", descriptions[endpoint], *shapes[endpoint], endpoint,
                          read_only=read_only, shows_inventory=inventory)
                 for endpoint, suffix, read_only, inventory in _SHAPES)
