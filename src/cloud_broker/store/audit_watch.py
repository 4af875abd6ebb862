"""Waiting for the audit trail to grow, the cheapest way each database allows.

Every open event stream wants to know when a new audit row has committed, whichever broker
process wrote it. Polling once per stream was what made fifty open streams halve grant
throughput. Here one watcher per process waits on behalf of all of them:

- PostgreSQL: each audit append also sends ``NOTIFY cloud_broker_audit`` naming the row's
  agent and run; PostgreSQL delivers it when (and only if) the transaction commits, to every
  listening process. The watcher listens on one dedicated connection and wakes at once, and
  says whose rows arrived (``Moved.touched``), so that only the streams of those agents and
  runs read. It reads the head once after LISTEN (rows committed before it listened are not
  missed); a broken connection is dropped and opened again. Payloads are hints, never trusted
  for the head itself: any database role may NOTIFY, and a false hint only costs a read.
- SQLite: one process-wide poll of ``max(seq)`` every half second (there is no cross-process
  notification in SQLite), instead of one per stream. When the head moved, one more read
  names whose rows arrived (the distinct agent and run of at most ``MAX_SCANNED`` new rows;
  past that, or past ``MAX_PAIRS`` pairs, "unknown"), so that here too only the streams of
  those agents and runs read.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Engine, func, select

from cloud_broker.service.ports import Moved, Touched
from cloud_broker.store.engine import mark_read_only
from cloud_broker.store.tables import audit_events

CHANNEL = "cloud_broker_audit"
POLL_SECONDS = 0.5
# Bounds on SQLite's read of whose rows arrived (see ``AuditWatch._touched_between``).
MAX_SCANNED = 5_000
MAX_PAIRS = 500
# Notifications are drained in batches of at most this many per wake: a flood is one wake.
DRAIN = 10_000


def notify_payload(agent_id: str | None, run_id: str | None) -> str:
    return f"{agent_id or ''} {run_id or ''}"

log = logging.getLogger(__name__)


def last_seq(engine: Engine) -> int:
    with engine.connect() as connection:
        mark_read_only(connection)  # polled while streams are open: never take the write lock
        return int(connection.execute(select(func.coalesce(func.max(audit_events.c.seq), 0))).scalar_one())


class AuditWatch:
    """``wait(after, timeout)``: the newest audit seq, returned as soon as it exceeds ``after``
    (or when ``timeout`` runs out). Used from one thread (the process's feed watcher)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._listener: Any = None
        self.reads = 0  # head reads made, for tests that tell waiting from polling

    def wait(self, after: int, timeout: float) -> Moved:
        if self._engine.dialect.name == "postgresql":
            return self._wait_for_notify(after, timeout)
        head = self._poll(after, timeout)
        return Moved(head, self._touched_between(after, head) if head > after else frozenset())

    def _touched_between(self, after: int, head: int) -> Touched | None:
        """The (agent, run) pairs of the rows after ``after`` up to ``head``; None (every stream
        looks) when that would mean scanning more than ``MAX_SCANNED`` rows or naming more than
        ``MAX_PAIRS`` pairs: run ids are the agents' to choose."""
        if head - after > MAX_SCANNED:
            return None
        query = (select(audit_events.c.agent_id, audit_events.c.run_id).distinct()
                 .where(audit_events.c.seq > after, audit_events.c.seq <= head).limit(MAX_PAIRS + 1))
        with self._engine.connect() as connection:
            mark_read_only(connection)
            pairs = frozenset((agent or "", run or "") for agent, run in connection.execute(query))
        return pairs if len(pairs) <= MAX_PAIRS else None

    def _read(self) -> int:
        self.reads += 1
        return last_seq(self._engine)

    def _poll(self, after: int, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        head = self._read()
        while head <= after and time.monotonic() + POLL_SECONDS <= deadline:
            time.sleep(POLL_SECONDS)
            head = self._read()
        return head

    def _wait_for_notify(self, after: int, timeout: float) -> Moved:
        try:
            fresh = self._listener is None
            listener = self._listen()
            head = self._read()
            if head > after and fresh:  # rows from before we listened: whose is unknown
                return Moved(head, None)
            notes = list(listener.notifies(timeout=timeout, stop_after=1))
            if not notes:
                return Moved(head, frozenset())
            notes += listener.notifies(timeout=0.0, stop_after=DRAIN)
            return Moved(self._read(), _touched(note.payload for note in notes))
        except Exception as exc:  # noqa: BLE001 - the database went away: listen again next time
            log.warning("audit watch lost its connection (%s); listening again", type(exc).__name__)
            self.close()
            time.sleep(POLL_SECONDS)
            return Moved(after, None)

    def _listen(self) -> Any:
        if self._listener is None:
            import psycopg

            url = self._engine.url.set(drivername="postgresql")
            listener = psycopg.connect(url.render_as_string(hide_password=False), autocommit=True,
                                       connect_timeout=5)
            listener.execute(f"LISTEN {CHANNEL}".encode())
            self._listener = listener
        return self._listener

    def close(self) -> None:
        if self._listener is not None:
            try:
                self._listener.close()
            except Exception:  # noqa: BLE001, S110 - closing a broken connection may fail too
                pass
            self._listener = None


def _touched(payloads: Iterable[str]) -> Touched | None:
    pairs = set()
    for payload in payloads:
        agent, space, run = payload.partition(" ")
        if not space or len(payload) > 80:
            return None  # not ours: look everywhere
        pairs.add((agent, run))
    return frozenset(pairs)
