"""How a change reaches SDK clients in each protocol era: the SDK side of :mod:`changes`.

- Handshake era: :class:`SessionPeer` turns an SDK session into a :class:`~cloud_broker.mcp.changes.Peer`
  that sends standing notifications on the session's connection.
- 2026-07-28: ``subscriptions/listen`` is served by the SDK's :class:`ListenHandler` over a
  :class:`SubscriptionBus`; :class:`BusPublisher` puts each change on that bus as the SDK's typed
  event, and the handler forwards it, stamped, to every stream whose filter asked for it.

Loads the SDK, so it is imported off the event loop with :mod:`protocol`.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, cast

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.session import ServerSession
from mcp.server.subscriptions import (
    ListenHandler,
    ResourcesListChanged,
    ResourceUpdated,
    ServerEvent,
    SubscriptionBus,
    ToolsListChanged,
)

from cloud_broker.mcp import changes
from cloud_broker.mcp.grants import BadGrantUri, grant_id_of, grant_uri


class SessionPeer:
    """An SDK session as a :class:`~cloud_broker.mcp.changes.Peer`.

    SDK 2.3 builds a fresh ``ServerSession`` proxy for every inbound message, so the proxy is
    no identity: the connection behind it is (not exposed publicly on the low-level context).
    Any proxy of a connection sends on that connection's standalone channel, so the one kept
    is as good as any other.
    """

    def __init__(self, session: ServerSession) -> None:
        self._session = session
        self._key: Hashable = getattr(session, "_connection", session)

    @property
    def key(self) -> Hashable:
        return self._key

    async def tool_list_changed(self) -> None:
        await self._session.send_tool_list_changed()

    async def resource_list_changed(self) -> None:
        await self._session.send_resource_list_changed()

    async def resource_updated(self, uri: str) -> None:
        await self._session.send_resource_updated(uri)

    async def log(self, level: str, logger: str, data: Any) -> None:
        # Built by hand: `send_log_message` is deprecated in the SDK and warns on every call.
        params = types.LoggingMessageNotificationParams(level=cast(types.LoggingLevel, level), logger=logger, data=data)
        await self._session.send_notification(types.LoggingMessageNotification(params=params))


class BusPublisher:
    """Our :data:`~cloud_broker.mcp.changes.Change` published as the SDK's event on ``bus``."""

    def __init__(self, bus: SubscriptionBus) -> None:
        self._bus = bus

    async def publish(self, change: changes.Change) -> None:
        await self._bus.publish(server_event(change))


def server_event(change: changes.Change) -> ServerEvent:
    """The SDK's listen-stream event for ``change``."""
    if isinstance(change, changes.ToolsListChanged):
        return ToolsListChanged()
    if isinstance(change, changes.ResourcesListChanged):
        return ResourcesListChanged()
    return ResourceUpdated(uri=change.uri)


def install_listen(
    server: Server[Any], fanout: changes.ChangeFanout, bus: SubscriptionBus, *, serves_resources: bool
) -> ListenHandler:
    """Serve ``subscriptions/listen`` from ``bus`` and have ``fanout`` publish every change on it.

    Registering the method is also what makes the 2026-07-28 capabilities (``server/discover``)
    say ``listChanged``/``subscribe``: the SDK derives them from it at that version.
    """
    handler = ListenHandler(bus)

    async def listen(
        ctx: ServerRequestContext[Any], params: types.SubscriptionsListenRequestParams
    ) -> types.SubscriptionsListenResult:
        honorable = params.model_copy(update={"notifications": _honorable(params.notifications, serves_resources)})
        return await handler(ctx, honorable)

    server.add_request_handler("subscriptions/listen", types.SubscriptionsListenRequestParams, listen)
    fanout.attach(BusPublisher(bus))
    return handler


def _honorable(requested: types.SubscriptionFilter, serves_resources: bool) -> types.SubscriptionFilter:
    """What this server can deliver of ``requested``, so the acknowledgement says no more.

    The SDK's handler honours every kind asked for; the spec lets a server acknowledge only the
    subset it supports, which is more useful to the client: there are no prompts here, no
    resources without grant events, and only ``grant://<grant_id>`` URIs in the canonical form
    that ``resources/list`` shows can ever be updated (listen filters match URIs exactly, so a
    differently spelled one would be acknowledged and then never fire).
    """
    uris = [uri for uri in requested.resource_subscriptions or () if serves_resources and _canonical(uri)]
    return types.SubscriptionFilter(
        tools_list_changed=requested.tools_list_changed,
        resources_list_changed=requested.resources_list_changed if serves_resources else None,
        resource_subscriptions=uris or None,
    )


def _canonical(uri: str) -> bool:
    try:
        return grant_uri(grant_id_of(uri)) == uri
    except BadGrantUri:
        return False
