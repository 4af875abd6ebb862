"""Store verbs for what flows out of the broker: deliveries, feed cursors, console sessions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from cloud_broker.service.ports import ConsoleSession, Delivery
from cloud_broker.store.tables import console_sessions, deliveries, outbox_cursors, row_of

PENDING_DELIVERY = "pending"
# Built once, values bound at execution (see ``store.sql``): both run on every grant request.
_INSERT_DELIVERY = insert(deliveries)
_READ_CURSORS = select(outbox_cursors.c.name, outbox_cursors.c.seq).where(
    outbox_cursors.c.name.in_(bindparam("names", expanding=True)))


class OutboxRows:
    """Mixed into the unit of work; ``_c`` is its connection."""

    _c: Connection

    def serialize(self, kind: str, key: str) -> None:
        """Make every other transaction that serialises on the same ``kind`` and ``key`` wait until
        this one ends, so that a count and the insert it allows act as one. SQLite needs nothing:
        each unit of work that writes holds the database's write lock from its start. PostgreSQL
        takes a transaction-scoped advisory lock on a 64-bit hash of the pair (a collision only
        makes two unrelated keys wait on each other)."""
        if self._c.dialect.name == "postgresql":
            self._c.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": f"{kind}:{key}"})

    def put_console_session(self, session: ConsoleSession) -> None:
        self._c.execute(insert(console_sessions).values(**asdict(session)))

    def find_console_session(self, session_hash: str) -> ConsoleSession | None:
        query = select(console_sessions).where(console_sessions.c.session_hash == session_hash)
        row = self._c.execute(query).mappings().first()
        return ConsoleSession(**dict(row)) if row else None

    def delete_console_session(self, session_hash: str) -> None:
        self._c.execute(console_sessions.delete().where(console_sessions.c.session_hash == session_hash))

    def insert_delivery(self, delivery: Delivery) -> int | None:
        row = row_of(delivery)
        row.pop("id")
        # A savepoint, so a duplicate does not poison the caller's transaction.
        try:
            with self._c.begin_nested():
                result = self._c.execute(_INSERT_DELIVERY, row)
        except IntegrityError:
            return None
        key = result.inserted_primary_key
        return int(key[0]) if key else None

    def insert_fresh_delivery(self, delivery: Delivery) -> int:
        # No savepoint (two more statements on every grant request): nothing can conflict.
        row = row_of(delivery)
        row.pop("id")
        key = self._c.execute(_INSERT_DELIVERY, row).inserted_primary_key
        assert key is not None  # every insert of this table assigns id
        return int(key[0])

    def update_delivery(self, delivery: Delivery) -> None:
        row = asdict(delivery)
        row.pop("id")
        self._c.execute(update(deliveries).where(deliveries.c.id == delivery.id).values(**row))

    def claim_delivery(self, delivery_id: int, seen_next_attempt_at: datetime, lease_until: datetime) -> bool:
        result = self._c.execute(
            update(deliveries)
            .where(deliveries.c.id == delivery_id, deliveries.c.status == PENDING_DELIVERY,
                   deliveries.c.next_attempt_at == seen_next_attempt_at)
            .values(next_attempt_at=lease_until)
        )
        return result.rowcount == 1

    def due_deliveries(self, now: datetime, limit: int = 50, kinds: tuple[str, ...] | None = None) -> list[Delivery]:
        query = (
            select(deliveries)
            .where(deliveries.c.status == PENDING_DELIVERY, deliveries.c.next_attempt_at <= now)
            .order_by(deliveries.c.next_attempt_at)
            .limit(limit)
        )
        if kinds is not None:
            query = query.where(deliveries.c.kind.in_(kinds))
        return [_delivery(r) for r in self._c.execute(query).mappings()]

    def list_deliveries(self, *, grant_id: str | None = None, batch_key: str | None = None,
                        kinds: tuple[str, ...] = (), limit: int = 200) -> list[Delivery]:
        query = select(deliveries).order_by(deliveries.c.id).limit(limit)
        if grant_id is not None:
            query = query.where(deliveries.c.grant_id == grant_id)
        if batch_key is not None:
            query = query.where(deliveries.c.batch_key == batch_key)
        if kinds:
            query = query.where(deliveries.c.kind.in_(kinds))
        return [_delivery(r) for r in self._c.execute(query).mappings()]

    def find_delivery(self, delivery_id: int) -> Delivery | None:
        row = self._c.execute(select(deliveries).where(deliveries.c.id == delivery_id)).mappings().first()
        return _delivery(row) if row else None

    def count_deliveries(self, *, batch_key: str, kind: str) -> int:
        """Exact under the page window's lock, as ``count_open_pending`` under the agent's."""
        self.serialize("batch", batch_key)
        query = select(func.count()).where(deliveries.c.batch_key == batch_key, deliveries.c.kind == kind)
        return int(self._c.execute(query).scalar_one())

    def read_cursor(self, name: str) -> int | None:
        row = self._c.execute(select(outbox_cursors.c.seq).where(outbox_cursors.c.name == name)).first()
        return int(row[0]) if row else None

    def read_cursors(self, names: Sequence[str]) -> dict[str, int]:
        return {str(name): int(seq) for name, seq in self._c.execute(_READ_CURSORS, {"names": list(names)})}

    def move_cursor(self, name: str, expected: int | None, seq: int) -> bool:
        if expected is None:
            try:
                with self._c.begin_nested():
                    self._c.execute(insert(outbox_cursors).values(name=name, seq=seq))
            except IntegrityError:
                return False
            return True
        result = self._c.execute(
            update(outbox_cursors).where(outbox_cursors.c.name == name, outbox_cursors.c.seq == expected).values(seq=seq)
        )
        return result.rowcount == 1

    def delete_cursor(self, name: str, expected: int) -> bool:
        query = outbox_cursors.delete().where(outbox_cursors.c.name == name, outbox_cursors.c.seq == expected)
        return self._c.execute(query).rowcount == 1


def _delivery(row: Any) -> Delivery:
    return Delivery(**dict(row))
