"""The resolver's connection to the broker, shared by ``credential-process``, ``exec`` and
``aws-profile``: the ``AGT_*`` environment that ``cloud-broker mcp`` reads, one client.

Everything here reports failures as one line on stderr that names the command and carries the
broker's ``error`` text (``Broker error 409: GRANT_RELEASED: …``): never a value, never a key.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import httpx
import typer

from cloud_broker.client.broker_client import BrokerClient
from cloud_broker.client.errors import BrokerCallError
from cloud_broker.client.resolve import ResolvedGrant, resolve_secret_ref
from cloud_broker.client.settings import HostSettings, load_host_settings
from cloud_broker.client.tokens import ExchangeTokenSource, TokenSource
from cloud_broker.errors import ConfigError


@dataclass(frozen=True)
class EmbeddedOpts:
    """``--config``/``--db``/``--state-dir``, as given to ``cloud-broker mcp --config``."""

    config: Path
    db: str | None = None
    state_dir: Path | None = None

    def argv(self) -> list[str]:
        """The same options for a command line (absolute paths: an SDK runs it from anywhere)."""
        words = ["--config", str(self.config.absolute())]
        if self.db:
            words += ["--db", self.db]
        if self.state_dir:
            words += ["--state-dir", str(self.state_dir.absolute())]
        return words


AWS_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_CREDENTIAL_EXPIRATION")
GCP_ENV = ("CLOUDSDK_AUTH_ACCESS_TOKEN", "GOOGLE_OAUTH_ACCESS_TOKEN")


@dataclass(frozen=True)
class Connection:
    """How to reach the broker: over HTTP (``transport`` None) or, for the embedded broker of
    ``cloud-broker mcp --config``, its app in this process with locally signed host tokens."""

    settings: HostSettings
    transport: httpx.AsyncBaseTransport | None = None
    tokens: TokenSource | None = None


@dataclass(frozen=True)
class ResolverSession:
    """An open client acting for the environment's agent."""

    client: BrokerClient
    agent_id: str

    async def resolve(self, secret_ref: str, mechanism: str) -> ResolvedGrant:
        return await resolve_secret_ref(self.client, self.agent_id, secret_ref, mechanism)


def host_settings(command: str, env: Mapping[str, str] | None = None) -> HostSettings:
    """The ``AGT_*`` settings, or exit 2 with what is missing (the variables' names, no values)."""
    try:
        return load_host_settings(os.environ if env is None else env)
    except ConfigError as exc:
        fail(command, "; ".join(exc.problems), code=2)


def connect(command: str, embedded: EmbeddedOpts | None = None) -> Connection:
    """The environment's broker (``AGT_*``), or the embedded one named by ``--config``."""
    if embedded is None:
        return Connection(host_settings(command))
    return embedded_connection(command, embedded)


def embedded_connection(command: str, embedded: EmbeddedOpts) -> Connection:
    """The broker of ``cloud-broker mcp --config`` (same file, store and key), in this process:
    the same route, reached through its app, as the host ``AGT_AGENT_ID`` belongs to."""
    from cloud_broker.api.app import create_app
    from cloud_broker.cli.mcp_cmd import EMBEDDED_URL, LocalTokenSource
    from cloud_broker.cli.options import wired_from

    wired = wired_from(embedded.config, embedded.db, embedded.state_dir)
    agent = wired.config.agent(os.environ.get("AGT_AGENT_ID", "").strip())
    if agent is None:
        fail(command, f"AGT_AGENT_ID must name an agent of {embedded.config}", code=2)
    transport = httpx.ASGITransport(app=create_app(wired.broker, wired.tokens))
    return Connection(HostSettings(EMBEDDED_URL, agent.id), transport, LocalTokenSource(wired.tokens, agent.host))


@asynccontextmanager
async def resolver_session(connection: Connection) -> AsyncIterator[ResolverSession]:
    """A broker client authenticated as ``cloud-broker mcp`` would be, closed on exit."""
    settings = connection.settings
    exchange = None
    if connection.tokens is None:
        exchange = ExchangeTokenSource(settings.host, preset_token=settings.token, api_key=settings.api_key)
    try:
        async with BrokerClient(settings.host, connection.tokens or exchange,  # type: ignore[arg-type]
                                transport=connection.transport) as client:
            yield ResolverSession(client, settings.agent_id)
    finally:
        if exchange is not None:
            await exchange.aclose()


def resolve_once(command: str, secret_ref: str, mechanism: str, connection: Connection) -> ResolvedGrant:
    """One resolution from a fresh session; exits 1 with the broker's refusal on failure."""
    import anyio

    async def run() -> ResolvedGrant:
        async with resolver_session(connection) as session:
            return await session.resolve(secret_ref, mechanism)

    try:
        return anyio.run(run)
    except BrokerCallError as exc:
        fail(command, str(exc))


def environment_for(grant: ResolvedGrant) -> dict[str, str]:
    """The variables a command gets for the grant: AWS's standard names, or GCP's token names."""
    if grant.family == "aws":
        values = (grant.value("access_key_id"), grant.value("secret_access_key"), grant.value("session_token"),
                  grant.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ"))
        return dict(zip(AWS_ENV, values, strict=True))
    if grant.family == "gcp":
        token = grant.value("access_token")
        return dict.fromkeys(GCP_ENV, token)
    raise BrokerCallError(f"no runtime resolution is defined for the {grant.family} family")


def fail(command: str, message: str, *, code: int = 1) -> NoReturn:
    """Print ``cloud-broker COMMAND: message`` on stderr and exit with ``code``."""
    print(f"cloud-broker {command}: {message}", file=sys.stderr, flush=True)
    raise typer.Exit(code=code)
