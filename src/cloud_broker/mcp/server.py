"""Start-up and serving: the entry points the CLI (``cloud-broker mcp``) calls.

Start-up is arranged so the agent runtime waits as little as possible for ``initialize``:

1. the broker client is built and every family's ``GET /{family}/inventory`` starts at once;
2. meanwhile the MCP SDK (the slow import) loads in a worker thread;
3. serving starts when the inventory has landed or ~1 s after start, whichever comes first;
4. an inventory that lands later updates its family's descriptions and announces a tool list
   change (a family whose look-up fails simply shows no inventory block);
5. the grant event stream (every family's grants) of this run is followed in the background,
   and each grant change is announced on ``grant://`` resources (see :mod:`events`, :mod:`grants`).

Announcements go through one :class:`~cloud_broker.mcp.changes.ChangeFanout`: standing
notifications for handshake-era sessions, events on the app's subscription bus for 2026-07-28
``subscriptions/listen`` streams (see :mod:`changes`, :mod:`delivery`).

Only :func:`main` reads the environment; everything else takes :class:`McpSettings`.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
import httpx
from pydantic import ValidationError

from cloud_broker.client.broker_client import BrokerClient
from cloud_broker.client.errors import BrokerCallError
from cloud_broker.client.tokens import ExchangeTokenSource, TokenSource
from cloud_broker.errors import ConfigError
from cloud_broker.mcp.broker_api import BrokerApi
from cloud_broker.mcp.changes import ChangeFanout, ToolsListChanged
from cloud_broker.mcp.events import GrantEventStream
from cloud_broker.mcp.family import FamilyTools
from cloud_broker.mcp.grants import GrantResources
from cloud_broker.mcp.inventory import InventoryError, parse_delivery, parse_inventory
from cloud_broker.mcp.lean_import import lean_packages
from cloud_broker.mcp.schemas import SourceContext
from cloud_broker.mcp.settings import McpSettings, load_settings
from cloud_broker.mcp.stderr import stderr_line
from cloud_broker.mcp.tools import GrantHook, RequestDefaults, Toolbox, installed_tools
from cloud_broker.mcp.turn_initiator import TurnInitiatorReader

if TYPE_CHECKING:
    from mcp.server.subscriptions import SubscriptionBus

    from cloud_broker.mcp.protocol import BrokerMcpServer

INVENTORY_WAIT_SECONDS = 1.0
Warn = Callable[[str], None]


class InventoryLoader:
    """Fetches every family's inventory once and folds each into its tool descriptions.

    A failed look-up is not fatal (one stderr line, no inventory block for that family).
    ``settled`` is set once every attempt is over either way, after the descriptions were updated.
    """

    def __init__(self, api: BrokerApi, toolbox: Toolbox, fanout: ChangeFanout, warn: Warn) -> None:
        self._api = api
        self._toolbox = toolbox
        self._fanout = fanout
        self._warn = warn
        self.settled = anyio.Event()

    async def run(self) -> None:
        """Fetch all at once; render, and announce a tool list change if what clients were shown changed."""
        try:
            async with anyio.create_task_group() as group:
                for tools in self._toolbox.families.values():
                    group.start_soon(self._load, tools)
        finally:
            self.settled.set()

    async def _load(self, tools: FamilyTools) -> None:
        try:
            reply = await self._api.family(tools.family).inventory()
            changed = self._toolbox.set_inventory(tools.family, parse_inventory(reply, tools), parse_delivery(reply))
        except (BrokerCallError, InventoryError) as exc:
            self._warn(f"{tools.family}_inventory_lookup_failed: {exc}")
            return
        except Exception as exc:  # noqa: BLE001 - never let the inventory take the server down
            self._warn(f"{tools.family}_inventory_lookup_failed: unexpected {type(exc).__name__}")
            return
        if changed:
            await self._fanout.announce(ToolsListChanged())


@dataclass(frozen=True)
class McpApp:
    """A ready-to-serve MCP server and the parts tests may want to look at."""

    server: BrokerMcpServer
    toolbox: Toolbox
    inventory: InventoryLoader
    grants: GrantResources | None = None
    events: GrantEventStream | None = None

    @property
    def bus(self) -> SubscriptionBus:
        """The app's subscription bus: every change is published here for 2026-07-28 listeners."""
        return self.server.bus


@asynccontextmanager
async def open_app(
    settings: McpSettings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    token_source: TokenSource | None = None,
    inventory_wait: float = INVENTORY_WAIT_SECONDS,
    warn: Warn = stderr_line,
    grant_events: bool = False,
    bus: SubscriptionBus | None = None,
    families: Mapping[str, FamilyTools] | None = None,
) -> AsyncIterator[McpApp]:
    """Build the server for ``settings``; the inventory loads in the background while open.

    ``transport``/``token_source`` let the embedded broker route calls in-process (a
    streaming ASGI transport plus a token source that signs locally). ``grant_events`` serves
    grants as resources and follows the broker's event stream; :func:`run_stdio` turns it on,
    in-process callers choose. ``bus`` replaces the in-process subscription bus (say, one shared
    across replicas). ``families`` chooses the tool families (every installed one by default).
    On exit listen streams are closed, background tasks cancelled and clients closed.
    """
    families = families if families is not None else installed_tools()
    deadline = anyio.current_time() + inventory_wait
    async with AsyncExitStack() as stack:
        tokens = token_source or _exchange_tokens(settings, transport, stack)
        client = BrokerClient(settings.host, tokens, transport=transport)
        stack.push_async_callback(client.aclose)
        api = BrokerApi(client, families, agent_id=settings.agent_id, run_id=settings.run_id)
        fanout = ChangeFanout(warn)
        grants = GrantResources(api, warn, fanout, run_id=settings.run_id) if grant_events else None
        toolbox = _toolbox(settings, families, api, warn, grants.remember if grants else None)
        loader = InventoryLoader(api, toolbox, fanout, warn)
        tasks = await stack.enter_async_context(anyio.create_task_group())
        stack.callback(tasks.cancel_scope.cancel)
        tasks.start_soon(loader.run)
        events = GrantEventStream(api, grants.publish, warn) if grants else None
        if events is not None:
            tasks.start_soon(events.run)
        protocol = await anyio.to_thread.run_sync(_load_sdk)
        server = protocol.build_server(toolbox, fanout, warn=warn, grants=grants, bus=bus)
        stack.callback(server.listen.close)
        with anyio.move_on_after(max(0.0, deadline - anyio.current_time())):
            await loader.settled.wait()
        yield McpApp(server, toolbox, loader, grants, events)


async def run_stdio(
    settings: McpSettings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    token_source: TokenSource | None = None,
) -> None:
    """Serve every family's tools over stdio until the client closes stdin."""
    for warning in settings.warnings():
        stderr_line(warning)
    async with open_app(settings, transport=transport, token_source=token_source, grant_events=True) as app:
        from mcp.server.stdio import (
            stdio_server,  # already loaded by _load_sdk, off the event loop
        )

        async with stdio_server() as (read_stream, write_stream):
            await app.server.run(read_stream, write_stream, app.server.create_initialization_options())


def main(env: Mapping[str, str] | None = None) -> int:
    """Read the environment, serve, and return the process exit code (1 on missing config).

    This owns the process, so the SDK is loaded without its package re-exports (see :mod:`lean_import`)."""
    lean_packages()
    try:
        settings = load_settings(os.environ if env is None else env)
    except ConfigError as exc:
        stderr_line("; ".join(exc.problems))
        return 1
    try:
        anyio.run(run_stdio, settings)
    except KeyboardInterrupt:
        return 130
    return 0


def _exchange_tokens(
    settings: McpSettings, transport: httpx.AsyncBaseTransport | None, stack: AsyncExitStack
) -> TokenSource:
    source = ExchangeTokenSource(
        settings.host, preset_token=settings.token, api_key=settings.api_key, transport=transport
    )
    stack.push_async_callback(source.aclose)
    return source


def _toolbox(settings: McpSettings, families: Mapping[str, FamilyTools], api: BrokerApi, warn: Warn,
             on_grant: GrantHook | None) -> Toolbox:
    defaults = RequestDefaults(settings.agent_id, settings.run_id, _default_source_context(settings, warn))
    reader = TurnInitiatorReader(settings.turn_initiator_file, warn=warn)
    return Toolbox(families, api, defaults, reader, on_grant=on_grant)


def _default_source_context(settings: McpSettings, warn: Warn) -> dict[str, Any] | None:
    """AGT_INBOUND_* as a source_context, held to the same limits as a caller-supplied one."""
    if settings.inbound_channel is None:
        return None
    try:
        return SourceContext.model_validate(settings.inbound_channel.as_source_context()).wire()
    except ValidationError:
        warn("AGT_INBOUND_CHANNEL_* ignored: values exceed the source_context limits")
        return None


def _load_sdk() -> ModuleType:
    """Import the SDK-backed modules; runs in a worker thread during start-up."""
    importlib.import_module("mcp.server.stdio")
    return importlib.import_module("cloud_broker.mcp.protocol")
