"""The engine under the store: SQLite (WAL, one file shared by a server and the CLI) or
PostgreSQL (several broker processes), tuned so that a fault of the store heals by itself.

- A connection a fault left unfit (``store.faults``) is discarded, with every pooled
  connection older than the error, so the first units of work after the fault get fresh
  ones: no restart needed. A SQLite connection opened while its file was read-only still
  serves reads; it is replaced at its first checkout after the file became writable again.
- A unit of work that writes takes SQLite's write lock when it begins (``BEGIN IMMEDIATE``);
  one that only reads (``READ_ONLY``) begins deferred and never waits for a writer. On
  PostgreSQL it runs in a ``READ ONLY`` transaction.
- A PostgreSQL connection that sat in the pool for a while (``PoolBounds.ping_after_idle``) is
  pinged at checkout and replaced if the server no longer answers on it (a restart, a dropped
  connection); one handed back moments ago is not, so a busy broker does not pay a round trip
  per unit of work for it. A fault met mid-use is discarded as above.
- PostgreSQL's pool is bounded: a flood waits ``PoolBounds.timeout`` for a connection, then the
  caller hears 503, instead of threads piling up behind an unreachable server.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.exc import DisconnectionError, InvalidatePoolError

from cloud_broker.store.faults import broken_sqlite

READ_ONLY = "cloud_broker_read_only"
"""The execution option that marks a connection's transaction as reading only."""
_OPENED_READ_ONLY = "cloud_broker_opened_read_only"
_CHECKED_IN_AT = "cloud_broker_checked_in_at"
BUSY_TIMEOUT = timedelta(seconds=30)


@dataclass(frozen=True)
class PoolBounds:
    """How many PostgreSQL connections one process keeps and how long a caller waits for one.
    The FastAPI thread pool (40 threads) and the background threads share them."""

    size: int = 10
    overflow: int = 10
    timeout: timedelta = timedelta(seconds=5)
    connect_timeout: timedelta = timedelta(seconds=5)
    # A connection a firewall or proxy dropped while idle is replaced before it is found broken.
    recycle: timedelta = timedelta(minutes=30)
    # A connection idle in the pool longer than this is pinged before use.
    ping_after_idle: timedelta = timedelta(seconds=1)


def create_store_engine(url: str, *, busy_timeout: timedelta = BUSY_TIMEOUT,
                        pool: PoolBounds = PoolBounds()) -> Engine:
    """An engine for the store at ``url``. ``busy_timeout``: how long a SQLite unit of work
    waits for the write lock before the store counts as unavailable."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        return _sqlite_engine(url, Path(database) if database and database != ":memory:" else None, busy_timeout)
    # A ``connect_timeout`` written in the URL is the operator's: it stands.
    connect = {} if "connect_timeout" in parsed.query else {"connect_timeout": int(pool.connect_timeout.total_seconds())}
    engine = create_engine(url, pool_size=pool.size, max_overflow=pool.overflow,
                           pool_timeout=pool.timeout.total_seconds(), pool_recycle=int(pool.recycle.total_seconds()),
                           connect_args=connect)
    event.listen(engine, "checkin", _note_checkin)
    event.listen(engine, "checkout", partial(_ping_if_idle, engine, pool.ping_after_idle.total_seconds()))
    return engine


def _note_checkin(_dbapi_connection: Any, record: Any) -> None:
    if record is not None:
        record.info[_CHECKED_IN_AT] = time.monotonic()


def _ping_if_idle(engine: Engine, idle_seconds: float, dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """SQLAlchemy's pre-ping, for connections that sat idle only: a connection just opened, or
    handed back within ``idle_seconds``, was working a moment ago. A failed ping raises what
    pre-ping raises: the pool discards this connection and every one pooled before now (a dead
    server left them all dead) and checks out a new one."""
    checked_in = record.info.get(_CHECKED_IN_AT)
    if checked_in is None or time.monotonic() - checked_in < idle_seconds:
        return
    try:
        alive = engine.dialect.do_ping(dbapi_connection)
    except Exception as exc:  # noqa: BLE001 - any failure of the ping means "do not use this one"
        raise InvalidatePoolError(f"the pooled connection did not answer a ping ({type(exc).__name__})") from None
    if not alive:
        raise InvalidatePoolError("the pooled connection did not answer a ping")


def mark_read_only(connection: Connection) -> None:
    """Make ``connection``'s next transaction a reading one (call before it begins)."""
    if connection.dialect.name == "postgresql":
        connection.execution_options(postgresql_readonly=True)  # the server refuses any write
    connection.execution_options(**{READ_ONLY: True})


def rows_written(connection: Connection) -> int:
    """Rows changed so far on SQLite's connection (0 on PostgreSQL, which refuses writes in a
    read-only transaction itself): a read-only unit of work compares it before and after."""
    if connection.dialect.name != "sqlite":
        return 0
    return int(connection.connection.driver_connection.total_changes)  # type: ignore[union-attr]


def _sqlite_engine(url: str, path: Path | None, busy_timeout: timedelta) -> Engine:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    seconds = busy_timeout.total_seconds()
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": seconds})
    event.listen(engine, "connect", partial(_sqlite_pragmas, int(seconds * 1000)))
    event.listen(engine, "begin", _sqlite_begin)
    event.listen(engine, "handle_error", _discard_broken_sqlite)
    if path is not None:
        event.listen(engine, "connect", partial(_note_read_only_open, path))
        event.listen(engine, "checkout", partial(_replace_read_only_open, path))
    return engine


def _sqlite_pragmas(busy_timeout_ms: int, dbapi_connection: Any, _record: Any) -> None:
    # The driver's own transaction handling is switched off: it sends BEGIN only before the
    # first INSERT/UPDATE/DELETE, so a SAVEPOINT issued first would open the transaction and
    # its release would commit the unit of work halfway. ``_sqlite_begin`` begins instead.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    """A unit of work that may write takes the write lock at its start (waiting up to the busy
    timeout): a read-then-write cannot fail halfway because another writer committed in
    between, and the order of audit rows is the order of commits. One that only reads begins
    deferred: it reads a snapshot and never waits for, nor holds up, a writer."""
    reading = connection.get_execution_options().get(READ_ONLY, False)
    connection.exec_driver_sql("BEGIN" if reading else "BEGIN IMMEDIATE")


def _discard_broken_sqlite(context: ExceptionContext) -> None:
    """Treat a connection the error left unfit as disconnected: SQLAlchemy then closes it and
    every pooled connection opened before now, and opens new ones on demand."""
    if broken_sqlite(context.original_exception):
        context.is_disconnect = True


def _note_read_only_open(path: Path, _dbapi_connection: Any, record: Any) -> None:
    """SQLite opens a database or WAL file it may not write read-only, and the connection stays
    so for good."""
    record.info[_OPENED_READ_ONLY] = not _writable(path)


def _replace_read_only_open(path: Path, _dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """A connection opened while the files were read-only is replaced, at its next checkout,
    once they are writable again (the pool opens a new one): it would refuse every write."""
    if record.info.get(_OPENED_READ_ONLY) and _writable(path):
        raise DisconnectionError("opened while the database files were read-only")


def _writable(database: Path) -> bool:
    files = (database, database.with_name(database.name + "-wal"))
    return all(not path.exists() or os.access(path, os.W_OK) for path in files)
