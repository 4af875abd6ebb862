"""One SQLite writer at a time inside this process, handed over on commit rather than polled for.

On SQLite every unit of work begins ``BEGIN IMMEDIATE`` (``store.sql``): it takes the file's
write lock for its whole length, so units of work run one at a time whatever we do. What we
choose is how a thread waits for its turn. Left to SQLite, a thread that finds the lock taken
sleeps in its busy handler in growing steps (1, 2, 5, 10, … 100 ms) and is not woken when the
lock frees: with four grant requests in flight, a request that would take 2 ms waited up to
200 ms, and the broker spent half its time asleep. Queued on a lock here, the next thread
starts the moment the previous one ends. Nothing about what a transaction sees or writes
changes; other processes sharing the file (``cloud-broker approve``) still wait on SQLite's
busy timeout as before. PostgreSQL runs transactions side by side and is left alone.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from cloud_broker.store.sql import SqlStore


class WriterQueue:
    """``store``, with its units of work entered one at a time by the threads of this process.

    The lock is re-entrant: a thread that opened a unit of work inside another meets SQLite's
    busy timeout on the inner one, as it would without the queue, rather than a deadlock.
    """

    def __init__(self, store: SqlStore) -> None:
        self._store = store
        self._turn = threading.RLock()

    @contextmanager
    def unit_of_work(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        with self._turn, self._store.unit_of_work(*args, **kwargs) as uow:
            yield uow

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def queued(store: SqlStore) -> SqlStore | WriterQueue:
    """``store`` behind a ``WriterQueue`` when it is SQLite, itself otherwise."""
    return WriterQueue(store) if store.engine.dialect.name == "sqlite" else store
