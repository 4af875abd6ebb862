"""The account inventory block appended to some tool descriptions (contract §6.3).

Showing the model the enrolled account ids up front stops it from inventing 12-digit ids.
The block is plain text; names come from broker configuration, so each is flattened onto one
line to keep "one bullet per account" true whatever an operator typed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

MAX_LISTED = 20

HEADING = (
    "AWS accounts enrolled for this agent. Pass one of these account_id values exactly; "
    "never make up or guess an account id:"
)


class InventoryError(ValueError):
    """The inventory reply did not have the expected ``accounts`` array."""


def parse_accounts(payload: Any) -> list[Mapping[str, Any]]:
    """The usable entries of ``{"accounts": [...]}``; raise when the array itself is missing."""
    accounts = payload.get("accounts") if isinstance(payload, dict) else None
    if not isinstance(accounts, list):
        raise InventoryError("inventory reply has no 'accounts' array")
    return [entry for entry in accounts if isinstance(entry, dict) and isinstance(entry.get("account_id"), str)]


def render_block(accounts: Sequence[Mapping[str, Any]]) -> str | None:
    """Heading, up to 20 bullets, then a pointer to the rest; None for an empty inventory."""
    if not accounts:
        return None
    lines = [HEADING, *(_bullet(account) for account in accounts[:MAX_LISTED])]
    hidden = len(accounts) - MAX_LISTED
    if hidden > 0:
        lines.append(f"{hidden} more — use aws_describe_scope/aws_list_accounts to see them.")
    return "\n".join(lines)


def _bullet(account: Mapping[str, Any]) -> str:
    name = _one_line(account.get("display_name")) or "(no display name)"
    region = _one_line(account.get("default_region"))
    suffix = f" ({region})" if region else ""
    return f"- `{_one_line(account['account_id'])}` — {name}{suffix}"


def _one_line(value: Any) -> str:
    return " ".join(value.split()) if isinstance(value, str) else ""
