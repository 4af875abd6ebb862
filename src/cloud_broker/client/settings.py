"""The ``AGT_*`` variables a host program needs to reach its broker as one agent.

The resolver authenticates exactly as ``cloud-broker mcp`` does, from the same variables, so a
runtime that already starts the MCP server with them needs nothing new. It does not need
``AGT_RUN_ID``: the ``secret_ref`` it resolves names its run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from cloud_broker.errors import ConfigError

REQUIREMENT = "AGT_HOST and AGT_AGENT_ID are required, plus one of AGT_TOKEN or AGT_API_KEY"


@dataclass(frozen=True)
class HostSettings:
    """Where the broker is and who is asking; secrets are kept out of ``repr``."""

    host: str
    agent_id: str
    token: str = field(default="", repr=False)
    api_key: str = field(default="", repr=False)


def load_host_settings(env: Mapping[str, str]) -> HostSettings:
    """Read the variables, stripped (they often come from ``$(cat file)``); raise
    :class:`ConfigError` naming every one that is missing."""

    def value(name: str) -> str:
        return (env.get(name) or "").strip()

    missing = [name for name in ("AGT_HOST", "AGT_AGENT_ID") if not value(name)]
    if not value("AGT_TOKEN") and not value("AGT_API_KEY"):
        missing.append("AGT_TOKEN or AGT_API_KEY")
    if missing:
        raise ConfigError([f"{REQUIREMENT} (missing: {', '.join(missing)})"])
    return HostSettings(value("AGT_HOST").rstrip("/"), value("AGT_AGENT_ID"), value("AGT_TOKEN"), value("AGT_API_KEY"))
