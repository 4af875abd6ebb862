"""Store verbs for what the metrics read of the approval queue."""

from __future__ import annotations

from sqlalchemy import Connection, func, select

from cloud_broker.domain.grants import GrantStatus
from cloud_broker.service.ports import PendingQueue
from cloud_broker.store.tables import grants


class QueueRows:
    """Mixed into the unit of work; ``_c`` is its connection."""

    _c: Connection

    def pending_queue(self, limit: int) -> list[PendingQueue]:
        # The first ``limit`` pending rows by ``grants_pending_expiry`` (status, pending_expires_at):
        # a scrape reads a bounded slice of one index, however many grants the table holds.
        first = (select(grants.c.family, grants.c.created_at)
                 .where(grants.c.status == GrantStatus.PENDING.value)
                 .order_by(grants.c.pending_expires_at).limit(limit).subquery())
        query = (select(first.c.family, func.count(), func.min(first.c.created_at))
                 .group_by(first.c.family).order_by(first.c.family))
        return [PendingQueue(family, int(count), oldest) for family, count, oldest in self._c.execute(query)]
