"""The audit trail read in pages, for ``cloud-broker audit``.

Keyset pagination on ``seq`` (the trail's order): each page is one short read that starts
after the last row printed, so the command's memory is one page whatever the trail's size,
and a running broker's writers wait at most one page's read, never the whole listing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Select, select

from cloud_broker.service.ports import AuditEvent
from cloud_broker.store.engine import mark_read_only
from cloud_broker.store.tables import audit_events

PAGE_SIZE = 500


@dataclass(frozen=True)
class AuditSelection:
    """Which rows, in which order; every field that is set narrows the selection."""

    grant_id: str | None = None
    agent_id: str | None = None
    since: datetime | None = None
    newest_first: bool = False


def audit_pages(engine: Engine, selection: AuditSelection, page_size: int = PAGE_SIZE) -> Iterator[list[AuditEvent]]:
    """Pages of at most ``page_size`` rows, in order, until the selection is exhausted."""
    after: int | None = None
    while True:
        with engine.connect() as connection:
            mark_read_only(connection)  # a long listing must not hold the running broker's writes
            rows = connection.execute(_page(selection, after, page_size)).mappings().all()
        if rows:
            yield [AuditEvent(**dict(row)) for row in rows]
        if len(rows) < page_size:
            return
        after = int(rows[-1]["seq"])


def _page(selection: AuditSelection, after: int | None, page_size: int) -> Select[Any]:
    seq = audit_events.c.seq
    query = select(audit_events).limit(page_size)
    query = query.order_by(seq.desc() if selection.newest_first else seq)
    if after is not None:
        query = query.where(seq < after if selection.newest_first else seq > after)
    if selection.grant_id is not None:
        query = query.where(audit_events.c.grant_id == selection.grant_id)
    if selection.agent_id is not None:
        query = query.where(audit_events.c.agent_id == selection.agent_id)
    if selection.since is not None:
        query = query.where(audit_events.c.at >= selection.since)
    return query
