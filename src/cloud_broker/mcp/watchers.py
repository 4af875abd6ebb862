"""Who to tell when the advertised tool list changes (the inventory can land after start-up)."""

from __future__ import annotations

from typing import Protocol

import anyio


class ToolListListener(Protocol):
    """What we need from an MCP session: the SDK's ``ServerSession`` satisfies it."""

    async def send_tool_list_changed(self) -> None:
        """Send ``notifications/tools/list_changed`` to the client."""
        ...


class ToolListWatchers:
    """Sessions that finished the handshake and should hear when the tool list changes."""

    def __init__(self) -> None:
        self._listeners: list[ToolListListener] = []

    def add(self, listener: ToolListListener) -> None:
        """Remember a session once its client has sent ``notifications/initialized``."""
        self._listeners.append(listener)

    async def notify_all(self) -> None:
        """Tell every live session; a session whose stream has closed is forgotten."""
        for listener in list(self._listeners):
            try:
                await listener.send_tool_list_changed()
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                self._listeners.remove(listener)
