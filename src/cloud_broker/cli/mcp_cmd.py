"""``cloud-broker mcp``: the MCP server over stdio, against a broker API or an embedded broker.

With ``AGT_HOST`` it talks to a running broker. With ``--config broker.yaml`` it runs the
broker in this process on SQLite, routing the same HTTP client into the app in-process (see
:mod:`cloud_broker.mcp.asgi_stream`: ``httpx.ASGITransport`` for plain calls, a streaming path
for the grant event stream) with tokens signed locally — so both modes exercise the same API code.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cloud_broker.cli.options import ConfigOpt, DbOpt, StateOpt, wired_from

if TYPE_CHECKING:
    from cloud_broker.api.tokens import TokenIssuer

EMBEDDED_URL = "http://cloud-broker.embedded"


class LocalTokenSource:
    """Signs host tokens in-process and renews them well before they expire.

    They are marked ``embedded``: no host key is involved, so they hold while the host exists
    and its ``tokens_not_before`` (read from the same broker.yaml) does not cut them off."""

    def __init__(self, issuer: TokenIssuer, host: str) -> None:
        from cloud_broker.api.tokens import EMBEDDED  # lazy, like every import of this command

        self._issuer, self._host, self._binding = issuer, host, EMBEDDED
        self._token, self._renew_at = "", 0.0

    async def token(self) -> str:
        if time.monotonic() >= self._renew_at:
            self._token = self._issuer.issue(self._host, binding=self._binding)
            self._renew_at = time.monotonic() + self._issuer.ttl.total_seconds() / 2
        return self._token


def mcp(
    config: ConfigOpt = None,
    db: DbOpt = None,
    state_dir: StateOpt = None,
    agent_id: Annotated[str | None, typer.Option("--agent-id", envvar="AGT_AGENT_ID", help="Embedded mode: the agent")] = None,
    run_id: Annotated[str | None, typer.Option("--run-id", envvar="AGT_RUN_ID", help="Embedded mode: the run (default: new)")] = None,
) -> None:
    """Serve the aws_* and gcp_* tools over stdio (MCP): against the broker at AGT_HOST, or, with
    --config, an embedded broker in this process.

    \b
    Example:
      AGT_HOST=http://127.0.0.1:8080 AGT_API_KEY=… AGT_AGENT_ID=… cloud-broker mcp
      cloud-broker mcp --config /abs/path/broker.yaml --agent-id AGENT_UUID
    """
    if config is None:
        raise typer.Exit(code=_remote())
    raise typer.Exit(code=_embedded(config, db, state_dir, agent_id, run_id or str(uuid.uuid4())))


def _remote() -> int:
    """Against the broker at AGT_HOST; an unreachable broker is named, with the variable that set it."""
    import functools

    import anyio
    import httpx

    from cloud_broker.cli.broker_reach import NamedBrokerTransport
    from cloud_broker.errors import ConfigError
    from cloud_broker.mcp.server import run_stdio
    from cloud_broker.mcp.settings import load_settings
    from cloud_broker.mcp.stderr import stderr_line

    try:
        settings = load_settings(os.environ)
    except ConfigError as exc:
        stderr_line("; ".join(exc.problems))
        return 1
    transport = NamedBrokerTransport(httpx.AsyncHTTPTransport(), source="AGT_HOST")
    try:
        anyio.run(functools.partial(run_stdio, settings, transport=transport))
    except KeyboardInterrupt:
        return 130
    return 0


def _embedded(config: Path, db: str | None, state_dir: Path | None, agent_id: str | None, run_id: str) -> int:
    import anyio

    from cloud_broker.api.app import create_app
    from cloud_broker.cli.background import background_work
    from cloud_broker.errors import BrokerError, ConfigError
    from cloud_broker.mcp.asgi_stream import streaming_asgi_transport
    from cloud_broker.mcp.server import run_stdio
    from cloud_broker.mcp.settings import load_settings

    try:
        wired = wired_from(config, db, state_dir, serving=True)
        agent = wired.config.agent(agent_id or "")
        if agent is None:
            raise ConfigError([f"--agent-id / AGT_AGENT_ID must name an agent of {config}"])
        env = {**os.environ, "AGT_HOST": EMBEDDED_URL, "AGT_AGENT_ID": agent.id, "AGT_RUN_ID": run_id}
        settings = load_settings(env, credentials_required=False)
    except BrokerError as exc:
        print(f"cloud-broker mcp: {exc.text}", file=sys.stderr)
        return 1
    app, tokens = create_app(wired.broker, wired.tokens), LocalTokenSource(wired.tokens, agent.host)

    async def serve() -> None:
        async with streaming_asgi_transport(app) as transport:
            await run_stdio(settings, transport=transport, token_source=tokens)

    with background_work(wired):
        anyio.run(serve)
    return 0
