"""Change events, and the one place each change leaves the server for clients of both protocol eras.

A grant that moves, a grant first seen, or an inventory that lands late changes something a client
was shown. The two protocol eras hear of it differently:

- handshake-era clients (``initialize``, up to 2025-11-25) get standing notifications on their
  session: ``tools/list_changed`` and ``resources/list_changed`` to every initialized session,
  ``resources/updated`` to those that called ``resources/subscribe`` for the URI;
- 2026-07-28 clients (SEP-2575) get change events only on the ``subscriptions/listen`` streams
  they opened, filtered by what each stream asked for. The server publishes typed events on a
  bus; the SDK's listen handler does the filtering and stamping.

:class:`ChangeFanout` sends every change both ways, so the eras cannot drift apart: callers say
*what* changed (:data:`Change`), never *how* it is delivered. It knows nothing of the MCP SDK (it
is built before the SDK has loaded): :mod:`delivery` adapts SDK sessions to :class:`Peer` and the
SDK's subscription bus to :class:`ListenBus`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import anyio

Warn = Callable[[str], None]


@dataclass(frozen=True)
class ToolsListChanged:
    """The advertised tool list changed (a late inventory rewrote the descriptions)."""


@dataclass(frozen=True)
class ResourcesListChanged:
    """The resource list changed (a grant became known to this process)."""


@dataclass(frozen=True)
class ResourceUpdated:
    """The resource at ``uri`` changed; a client that cares reads it again."""

    uri: str


Change = ToolsListChanged | ResourcesListChanged | ResourceUpdated


class Peer(Protocol):
    """One handshake-era client, as far as standing notifications need it."""

    @property
    def key(self) -> Hashable:
        """Stable for the client's connection, whichever request the peer was built from."""
        ...

    async def tool_list_changed(self) -> None: ...

    async def resource_list_changed(self) -> None: ...

    async def resource_updated(self, uri: str) -> None: ...

    async def log(self, level: str, logger: str, data: Any) -> None: ...


class ListenBus(Protocol):
    """Where 2026-07-28 listen streams pick changes up; filtering per stream is the bus's side."""

    async def publish(self, change: Change) -> None: ...


class ChangeFanout:
    """The handshake-era audience (sessions, their resource subscriptions) plus the listen bus.

    Subscriptions are kept by exact URI: callers canonicalize first (see :mod:`grants`).
    """

    def __init__(self, warn: Warn) -> None:
        self._warn = warn
        self._peers: dict[Hashable, Peer] = {}
        self._subscriptions: dict[Hashable, set[str]] = {}
        self._bus: ListenBus | None = None

    def attach(self, bus: ListenBus) -> None:
        """Start publishing on ``bus``: done once the SDK has loaded and the server is built."""
        self._bus = bus

    # --- the handshake-era audience ---

    def join(self, peer: Peer) -> None:
        """A client finished the handshake: from now on it hears the list changes."""
        self._peers[peer.key] = peer

    def subscribe(self, peer: Peer, uri: str) -> None:
        """``resources/subscribe``: the client also hears updates of ``uri``."""
        self._peers.setdefault(peer.key, peer)
        self._subscriptions.setdefault(peer.key, set()).add(uri)

    def unsubscribe(self, peer: Peer, uri: str) -> None:
        self._subscriptions.get(peer.key, set()).discard(uri)

    def subscribed(self, peer: Peer) -> frozenset[str]:
        return frozenset(self._subscriptions.get(peer.key, ()))

    def peers(self) -> list[Peer]:
        """Connected handshake-era clients, for messages that are not changes (grant log lines)."""
        return list(self._peers.values())

    def knows(self, key: Hashable) -> bool:
        return key in self._peers

    # --- what goes out ---

    async def announce(self, change: Change) -> None:
        """Tell handshake-era sessions that should hear ``change``, then publish it for listen streams.

        Sessions first, keeping the order the handshake era always had; the bus never raises into
        the caller (a grant event must still reach its log line).
        """
        if isinstance(change, ResourceUpdated):
            audience = [peer for key, peer in self._peers.items() if change.uri in self._subscriptions.get(key, ())]
        else:
            audience = list(self._peers.values())
        await self.tell(audience, lambda peer: _standing_notification(peer, change))
        if self._bus is not None:
            try:
                await self._bus.publish(change)
            except Exception as exc:  # noqa: BLE001 - a custom bus failing must not stop the caller
                self._warn(f"change publish failed: {type(exc).__name__}")

    async def tell(self, peers: Iterable[Peer], send: Callable[[Peer], Awaitable[None]]) -> None:
        """Send to each peer; a closed one is forgotten, any other failure is reported by type."""
        for peer in list(peers):
            try:
                await send(peer)
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                self._forget(peer.key)
            except Exception as exc:  # noqa: BLE001 - one client's failure must not stop the others
                self._warn(f"change notification failed: {type(exc).__name__}")

    def _forget(self, key: Hashable) -> None:
        self._peers.pop(key, None)
        self._subscriptions.pop(key, None)


async def _standing_notification(peer: Peer, change: Change) -> None:
    """The handshake-era notification for ``change``."""
    if isinstance(change, ToolsListChanged):
        await peer.tool_list_changed()
    elif isinstance(change, ResourcesListChanged):
        await peer.resource_list_changed()
    else:
        await peer.resource_updated(change.uri)
