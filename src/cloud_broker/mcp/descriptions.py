"""How every tool description ends. Each family writes its tools' bodies (the wording is our
own): they carry the broker-to-model contract that no code enforces, what the statuses mean,
when to poll, how to talk about approval channels. Each ends with :data:`SUFFIX`, and three of
each family's get its inventory block appended at start-up (see :mod:`cloud_broker.mcp.inventory`).
"""

from __future__ import annotations

SUFFIX = (
    "Always go through this tool; do not call the broker's HTTP API (/aws/...) directly. The tool "
    "authenticates for you, fills in your agent and run ids, and keeps raw credentials out of the "
    "conversation where it can."
)

def compose(body: str, inventory_block: str | None = None) -> str:
    """Body, then the inventory block when there is one, then the suffix."""
    parts = [body, inventory_block, SUFFIX]
    return "\n\n".join(part for part in parts if part)
