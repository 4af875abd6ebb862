"""Grants as MCP resources (``grant://<grant_id>``) and who hears when they change.

An agent waiting on a human approval should be told, not left polling. This module keeps the
grants this process has seen (created by a request tool here, or announced by the
broker's event stream) and the clients' log levels; each change goes out through a
:class:`~cloud_broker.mcp.changes.ChangeFanout` (to handshake-era sessions and to 2026-07-28
listen streams alike). It knows nothing of the MCP SDK: :mod:`delivery` adapts SDK sessions to
:class:`Peer`, which keeps the rules testable without a session.

One process serves one run (``AGT_RUN_ID``). The broker is asked for that run's events only;
should another run's event arrive all the same (an older broker ignores the filter), it is
dropped unless its grant is already known here, so the model never hears of, nor is told to
use, grants of runs it is not part of. The known grants are bounded (the most recent
:data:`MAX_KNOWN_GRANTS`), so a long-lived process cannot grow without end.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any

from cloud_broker.client.errors import BrokerCallError
from cloud_broker.mcp.broker_api import BrokerApi
from cloud_broker.mcp.changes import (
    ChangeFanout,
    Peer,
    ResourcesListChanged,
    ResourceUpdated,
)
from cloud_broker.mcp.family import Endpoint, FamilyTools
from cloud_broker.mcp.tools import installed_tools

URI_PREFIX = "grant://"
MIME_TYPE = "application/json"
LOGGER = "cloud-broker"
LOG_LEVELS = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")
EVENT_LEVEL = "info"
MAX_KNOWN_GRANTS = 1000

Warn = Callable[[str], None]


class BadGrantUri(ValueError):
    """The URI is not ``grant://`` followed by a grant id (a UUID)."""


class UnknownGrant(LookupError):
    """The broker knows no such grant for this agent (another agent's grant reads the same)."""


def grant_uri(grant_id: str) -> str:
    return f"{URI_PREFIX}{grant_id}"


def grant_id_of(uri: str) -> str:
    """The canonical grant id in ``uri``; raises :class:`BadGrantUri` for anything else."""
    if not uri.startswith(URI_PREFIX):
        raise BadGrantUri(f"not a grant resource: expected {URI_PREFIX}<grant_id>, got {uri[:80]!r}")
    try:
        return str(uuid.UUID(uri[len(URI_PREFIX):]))
    except ValueError:
        raise BadGrantUri(f"not a grant resource: {uri[:80]!r} does not end in a grant id (a UUID)") from None


@dataclass(frozen=True)
class GrantSummary:
    """What the resource list shows of a grant, from a broker reply or a grant event."""

    grant_id: str
    status: str
    family: str
    target_noun: str
    target: str
    actions: tuple[str, ...]

    @classmethod
    def from_wire(cls, body: Mapping[str, Any], tools: FamilyTools) -> GrantSummary | None:
        """``body`` of a grant of ``tools``' family: its target and first list are read by the
        family's names (``account_id`` and ``actions``, ``project_id`` and ``permissions``)."""
        grant_id, status = body.get("grant_id"), body.get("status")
        if not isinstance(grant_id, str) or not isinstance(status, str):
            return None
        try:
            grant_id = str(uuid.UUID(grant_id))
        except ValueError:
            return None
        actions = body.get(_first_list(tools))
        listed = tuple(a for a in actions if isinstance(a, str)) if isinstance(actions, list) else ()
        target = body.get(tools.target_field)
        return cls(grant_id, status, tools.family, tools.target_noun, target if isinstance(target, str) else "", listed)

    @property
    def uri(self) -> str:
        return grant_uri(self.grant_id)

    @property
    def description(self) -> str:
        shown = ", ".join(self.actions[:5]) + (" …" if len(self.actions) > 5 else "")
        where = f" on {self.target_noun} {self.target}" if self.target else ""
        title = self.target_noun.split()[0]
        return f"{title} access grant ({shown or 'nothing listed'}){where}; last known status: {self.status}"


def _first_list(tools: FamilyTools) -> str:
    """The scope list a family's request tool names right after its target (its actions)."""
    properties = list(tools.spec(Endpoint.PREVIEW).schema.get("properties", {}))
    return properties[1] if len(properties) > 1 else ""


class GrantResources:
    """The grants of this process and the clients that follow them.

    ``fanout`` is shared with the rest of the server (the tool list changes go through it too);
    a private one is made when none is given, which is enough for the rules alone. ``run_id``
    is the run this process serves; None accepts every run (for the rules alone, again).
    """

    def __init__(
        self,
        api: BrokerApi,
        warn: Warn,
        fanout: ChangeFanout | None = None,
        *,
        run_id: str | None = None,
        max_known: int = MAX_KNOWN_GRANTS,
    ) -> None:
        self._api = api
        # The families whose grants are served (with None for ``api``, the rules alone: every installed one).
        self._families = {n: f.tools for n, f in api.families.items()} if api is not None else installed_tools()
        self._warn = warn
        self._fanout = fanout if fanout is not None else ChangeFanout(warn)
        self._run_id = run_id.strip().lower() if run_id is not None else None
        self._max_known = max_known
        self._grants: dict[str, GrantSummary] = {}
        self._log_levels: dict[Hashable, str] = {}

    # --- what clients read ---

    def listing(self) -> list[GrantSummary]:
        """Known grants, oldest first."""
        return list(self._grants.values())

    async def read(self, uri: str) -> str:
        """The grant as the broker reports it now (``GET /{family}/grants/{id}``), as JSON text.
        A grant not seen here is looked for in each family in turn (grant ids are one space)."""
        grant_id = grant_id_of(uri)
        known = self._grants.get(grant_id)
        for family in [known.family] if known else list(self._families):
            try:
                reply = await self._api.family(family).poll_grant(grant_id)
            except BrokerCallError as exc:
                if exc.status in (400, 404):
                    continue
                raise
            return self._fresh(family, reply)
        raise UnknownGrant(f"grant {grant_id} not found")

    def _fresh(self, family: str, reply: Any) -> str:
        if isinstance(reply, dict):
            reply = {key: value for key, value in reply.items() if key != "credentials"}
            summary = GrantSummary.from_wire(reply, self._tools(family))
            if summary is not None and summary.grant_id in self._grants:
                self._grants[summary.grant_id] = summary
        return json.dumps(reply, indent=2, ensure_ascii=False)

    def _tools(self, family: str) -> FamilyTools:
        return self._families[family]

    # --- who listens (handshake era; 2026-07-28 clients say so in their listen request) ---

    def join(self, peer: Peer) -> None:
        """A client finished the handshake: it hears list changes and grant log messages."""
        self._fanout.join(peer)

    def subscribe(self, peer: Peer, uri: str) -> None:
        """Follow one grant; any well-formed grant URI may be followed, known yet or not."""
        self._fanout.subscribe(peer, grant_uri(grant_id_of(uri)))

    def unsubscribe(self, peer: Peer, uri: str) -> None:
        self._fanout.unsubscribe(peer, grant_uri(grant_id_of(uri)))

    def subscribed(self, peer: Peer) -> frozenset[str]:
        return self._fanout.subscribed(peer)

    def set_log_level(self, peer: Peer, level: str) -> None:
        """``logging/setLevel``: messages below ``level`` are no longer sent to this client."""
        if level not in LOG_LEVELS:
            raise ValueError(f"unknown log level {level!r}")
        self._log_levels[peer.key] = level

    # --- what happened ---

    async def remember(self, family: str, reply: Mapping[str, Any]) -> None:
        """A grant created by a tool call here; clients learn the list grew."""
        summary = GrantSummary.from_wire(reply, self._tools(family))
        if summary is not None and self._record(summary):
            await self._fanout.announce(ResourcesListChanged())

    async def publish(self, event: Mapping[str, Any]) -> None:
        """A grant event from the broker: list change if new, update to its subscribers, a log line.
        Events of families this process has no tools for are not its business."""
        family = event.get("family", "aws")  # brokers from before families sent AWS events only
        if not isinstance(family, str) or family not in self._families:
            return
        summary = GrantSummary.from_wire(event, self._tools(family))
        if summary is None or (summary.grant_id not in self._grants and not self._of_this_run(event)):
            return
        if self._record(summary):
            await self._fanout.announce(ResourcesListChanged())
        await self._fanout.announce(ResourceUpdated(summary.uri))
        # Handshake-era sessions only. At 2026-07-28 ``notifications/message`` may ride only the
        # stream of a request that opted in through its ``_meta`` log level, never the connection
        # (the SDK drops it there), and the SDK's listen streams carry change events only; so a
        # modern client gets no log line and learns the news by reading the updated grant.
        data = {"message": event.get("message"), "grant_id": summary.grant_id, "status": summary.status}
        await self._fanout.tell(self._hearing(EVENT_LEVEL), lambda peer: peer.log(EVENT_LEVEL, LOGGER, data))

    def _of_this_run(self, event: Mapping[str, Any]) -> bool:
        """Whether ``event`` belongs to the run this process serves (a missing run id does not)."""
        run_id = event.get("run_id")
        return self._run_id is None or (isinstance(run_id, str) and run_id.strip().lower() == self._run_id)

    def _record(self, summary: GrantSummary) -> bool:
        """Store the latest summary; True when the grant was not known before.

        A new grant beyond the bound pushes out the one first seen longest ago; the list change
        announced for the newcomer covers the departure too.
        """
        new = summary.grant_id not in self._grants
        self._grants[summary.grant_id] = summary
        while len(self._grants) > self._max_known:
            del self._grants[next(iter(self._grants))]
        return new

    def _hearing(self, level: str) -> list[Peer]:
        # Levels of clients the fan-out has forgotten (closed) are dropped here, so none pile up.
        self._log_levels = {key: lvl for key, lvl in self._log_levels.items() if self._fanout.knows(key)}
        rank = LOG_LEVELS.index(level)
        return [p for p in self._fanout.peers() if LOG_LEVELS.index(self._log_levels.get(p.key, "debug")) <= rank]
