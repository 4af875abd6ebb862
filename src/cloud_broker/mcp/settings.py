"""Settings of the MCP server, read once from the AGT_* environment and passed down.

Only :func:`load_settings` looks at the environment; everything else receives an
:class:`McpSettings`. Secrets (token, API key) are kept out of ``repr`` so that a
settings object printed by accident never leaks them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cloud_broker.errors import ConfigError

REQUIREMENT = "AGT_HOST, AGT_AGENT_ID and AGT_RUN_ID are required, plus one of AGT_TOKEN or AGT_API_KEY"


@dataclass(frozen=True)
class InboundChannel:
    """Where the current conversation lives, as the host runtime announces it (AGT_INBOUND_*)."""

    channel_type: str
    channel_id: str
    thread_ts: str | None = None

    def as_source_context(self) -> dict[str, str]:
        """The ``source_context`` wire object; ``thread_ts`` only when known."""
        context = {"channel_type": self.channel_type, "channel_id": self.channel_id}
        if self.thread_ts:
            context["thread_ts"] = self.thread_ts
        return context


@dataclass(frozen=True)
class McpSettings:
    """Everything the MCP server needs from its environment (contract §1.1)."""

    host: str
    agent_id: str
    run_id: str
    token: str = field(default="", repr=False)
    api_key: str = field(default="", repr=False)
    team_slug: str = ""
    turn_initiator_file: Path | None = None
    inbound_channel: InboundChannel | None = None

    def warnings(self) -> list[str]:
        """Start-up warnings worth one stderr line each (nothing here is fatal)."""
        if self.team_slug:
            return ["AGT_TEAM_SLUG is deprecated and ignored: the broker derives the team from AGT_AGENT_ID"]
        return []


def load_settings(env: Mapping[str, str], *, credentials_required: bool = True) -> McpSettings:
    """Build settings from ``env``; raise :class:`ConfigError` naming every missing variable.

    Values are stripped because they often come from ``$(cat file)`` with a trailing
    newline; an all-blank value counts as unset, as an empty one does in the published server.
    """
    value = _reader(env)
    missing = [name for name in ("AGT_HOST", "AGT_AGENT_ID", "AGT_RUN_ID") if not value(name)]
    # The embedded broker signs its own tokens, so only it may go without credentials.
    if credentials_required and not value("AGT_TOKEN") and not value("AGT_API_KEY"):
        missing.append("AGT_TOKEN or AGT_API_KEY")
    if missing:
        raise ConfigError([f"{REQUIREMENT} (missing: {', '.join(missing)})"])
    marker = value("AGT_TURN_INITIATOR_FILE")
    return McpSettings(
        host=value("AGT_HOST").rstrip("/"),
        agent_id=value("AGT_AGENT_ID"),
        run_id=value("AGT_RUN_ID"),
        token=value("AGT_TOKEN"),
        api_key=value("AGT_API_KEY"),
        team_slug=value("AGT_TEAM_SLUG"),
        turn_initiator_file=Path(marker) if marker else None,
        inbound_channel=_inbound_channel(value),
    )


def _reader(env: Mapping[str, str]) -> Callable[[str], str]:
    def value(name: str) -> str:
        return (env.get(name) or "").strip()

    return value


def _inbound_channel(value: Callable[[str], str]) -> InboundChannel | None:
    # Both halves are needed: a channel type without an id cannot route a reply.
    channel_type, channel_id = value("AGT_INBOUND_CHANNEL_TYPE"), value("AGT_INBOUND_CHANNEL_ID")
    if not channel_type or not channel_id:
        return None
    return InboundChannel(channel_type, channel_id, value("AGT_INBOUND_CHANNEL_THREAD_TS") or None)
