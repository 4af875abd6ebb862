"""Which database errors mean "the store cannot serve now", and the one place they become
``Unavailable`` (a 503 with ``Retry-After`` at the HTTP edge).

Two questions, answered from the driver's own error codes, never from message text:

- *Is this connection broken?* (``broken_sqlite``) After some SQLite errors the pooled
  connection keeps state that outlives the fault. A connection opened while the files were
  read-only (read-only filesystem, immutable files, a mode the process may not write) was
  opened read-only by SQLite and answers "attempt to write a readonly database" for ever,
  even once the files are writable again. After "database or disk is full" and "disk I/O
  error" SQLite may already have rolled the transaction back behind the caller's back. Such
  a connection is discarded, and with it every connection opened before the error
  (``engine``). PostgreSQL's driver says itself when its connection is broken.
- *Is the store unavailable?* (``cause``) Those errors, a busy write lock held past the busy
  timeout, a PostgreSQL server that is down, starting, shutting down or out of resources,
  and a pool with every connection in use past its timeout. A schema or programming error
  is none of these: it stays a 500.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from cloud_broker.errors import Unavailable

log = logging.getLogger(__name__)

_SQLITE_BROKEN = {
    "SQLITE_READONLY": "its database files cannot be written",
    "SQLITE_FULL": "its disk is full",
    "SQLITE_IOERR": "its disk failed a read or a write",
    "SQLITE_CANTOPEN": "its database file cannot be opened",
}
_SQLITE_BUSY = {
    "SQLITE_BUSY": "another writer held it past the busy timeout",
    "SQLITE_LOCKED": "another writer held it past the busy timeout",
}
# PostgreSQL SQLSTATE classes: connection exception, insufficient resources (disk full, out of
# memory, too many connections), operator intervention (shutting down, starting up), system error.
_POSTGRES_CLASSES = {
    "08": "the database server cannot be reached",
    "53": "the database server is out of disk, memory or connections",
    "57P": "the database server is shutting down or starting up",
    "58": "the database server failed a read or a write",
}
_UNREACHABLE = "the database server cannot be reached"
_POOL_EXHAUSTED = "every connection to it is in use"


def broken_sqlite(error: BaseException) -> bool:
    """Whether a SQLite error leaves its connection unfit for reuse (see the module's notes)."""
    return _sqlite_primary(error) in _SQLITE_BROKEN


def cause(exc: BaseException) -> str | None:
    """Why the store is unavailable, as an operator reads it; None when ``exc`` is no such fault."""
    if isinstance(exc, PoolTimeout):
        return _POOL_EXHAUSTED
    if not isinstance(exc, DBAPIError):
        return None
    primary = _sqlite_primary(exc.orig)
    if primary is not None:
        return _SQLITE_BROKEN.get(primary) or _SQLITE_BUSY.get(primary)
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if isinstance(sqlstate, str):
        return next((why for prefix, why in _POSTGRES_CLASSES.items() if sqlstate.startswith(prefix)), None)
    if exc.connection_invalidated or type(exc.orig).__name__ == "OperationalError":
        return _UNREACHABLE  # no SQLSTATE: the driver lost or never got a connection
    return None


@contextmanager
def as_unavailable() -> Iterator[None]:
    """Run a unit of work, turning a store fault into ``Unavailable``. The driver's message is
    neither logged nor shown: it may quote the statement and its parameters."""
    try:
        yield
    except (DBAPIError, PoolTimeout) as exc:
        why = cause(exc)
        if why is None:
            raise
        log.warning("store unavailable: %s (%s %s)", why, type(exc).__name__, _code(exc))
        raise Unavailable(f"the broker's store is unavailable: {why}; retry in a few seconds") from exc


def _sqlite_primary(error: BaseException | None) -> str | None:
    """``SQLITE_IOERR`` for ``SQLITE_IOERR_WRITE``: the primary result code (Python ≥ 3.11)."""
    name = getattr(error, "sqlite_errorname", None)
    return "_".join(name.split("_")[:2]) if isinstance(name, str) else None


def _code(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    return str(getattr(orig, "sqlite_errorname", None) or getattr(orig, "sqlstate", None) or "-")
