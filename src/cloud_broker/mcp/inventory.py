"""The inventory block appended to some of a family's tool descriptions (contract §6.3).

Showing the model the enrolled account or project ids up front stops it from inventing them.
The block is plain text; names come from broker configuration, so each is flattened onto one
line to keep "one bullet per entry" true whatever an operator typed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cloud_broker.mcp.family import Endpoint, FamilyTools

MAX_LISTED = 20
RUNTIME_ONLY = "runtime_only"


class InventoryError(ValueError):
    """The inventory reply did not have the family's array (``accounts``, ``projects``)."""


def parse_inventory(payload: Any, tools: FamilyTools) -> list[Mapping[str, Any]]:
    """The usable entries of ``{"accounts": [...]}`` (or ``projects``); raise when the array itself is missing."""
    entries = payload.get(tools.inventory_key) if isinstance(payload, dict) else None
    if not isinstance(entries, list):
        raise InventoryError(f"inventory reply has no '{tools.inventory_key}' array")
    return [entry for entry in entries if isinstance(entry, dict) and isinstance(entry.get(tools.target_field), str)]


def parse_delivery(payload: Any) -> str | None:
    """The team's ``credentials_delivery`` beside the array (our brokers send it; others may not)."""
    delivery = payload.get("credentials_delivery") if isinstance(payload, dict) else None
    return delivery if delivery in ("inline", RUNTIME_ONLY) else None


def render_block(entries: Sequence[Mapping[str, Any]], tools: FamilyTools) -> str | None:
    """Heading, up to 20 bullets, then a pointer to the rest; None for an empty inventory."""
    if not entries:
        return None
    lines = [tools.inventory_heading, *(_bullet(entry, tools) for entry in entries[:MAX_LISTED])]
    hidden = len(entries) - MAX_LISTED
    if hidden > 0:
        describe, listing = tools.spec(Endpoint.DESCRIBE_SCOPE).name, tools.spec(Endpoint.INVENTORY).name
        lines.append(f"{hidden} more — use {describe}/{listing} to see them.")
    return "\n".join(lines)


def _bullet(entry: Mapping[str, Any], tools: FamilyTools) -> str:
    name = _one_line(entry.get("display_name")) or "(no display name)"
    extra = _one_line(tools.inventory_extra(entry))
    suffix = f" ({extra})" if extra else ""
    return f"- `{_one_line(entry[tools.target_field])}` — {name}{suffix}"


def _one_line(value: Any) -> str:
    return " ".join(value.split()) if isinstance(value, str) else ""
