"""Threads of one process take turns on a SQLite store at the queue, not in SQLite's busy handler."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, event

from cloud_broker.service.ports import AuditEvent
from cloud_broker.store.sql import SqlStore
from cloud_broker.store.writer_queue import WriterQueue, queued

WAIT = 10.0  # a bound on a hang, never a measure of speed


def _event(name: str) -> AuditEvent:
    return AuditEvent(event=name, actor="test", at=datetime.now(UTC))


@pytest.fixture
def store(tmp_path: Path) -> SqlStore:
    return SqlStore.open(f"sqlite:///{tmp_path / 'b.db'}")


def test_a_second_thread_begins_only_when_the_first_unit_of_work_has_committed(store: SqlStore) -> None:
    writers = queued(store)
    inside, release, second_done = threading.Event(), threading.Event(), threading.Event()
    seen_by_second: list[int] = []
    connected: list[str] = []
    # Counted as a thread takes a connection, before the store's own BEGIN IMMEDIATE: without
    # the queue the second thread would be counted here, then sleep in SQLite's busy handler.
    event.listen(store.engine, "engine_connect", lambda _: connected.append(threading.current_thread().name))

    def first() -> None:
        with writers.unit_of_work() as uow:
            uow.append_audit(_event("first"))
            inside.set()
            release.wait(WAIT)

    def second() -> None:
        with writers.unit_of_work() as uow:
            seen_by_second.append(uow.last_audit_seq())
            uow.append_audit(_event("second"))
        second_done.set()

    threads = [threading.Thread(target=first, name="first"), threading.Thread(target=second, name="second")]
    threads[0].start()
    assert inside.wait(WAIT)
    threads[1].start()
    assert not second_done.wait(0.2)  # queued behind the first, which holds its turn
    assert connected == ["first"]  # ... at the queue: it has not connected a transaction
    release.set()
    for thread in threads:
        thread.join(WAIT)
    # The second saw the first's committed row: it began after the commit, not beside it.
    assert seen_by_second == [1] and connected == ["first", "second"]
    with store.unit_of_work() as uow:
        assert [e.event for e in uow.list_audit()] == ["first", "second"]


def test_a_unit_of_work_that_fails_rolls_back_and_gives_up_its_turn(store: SqlStore) -> None:
    writers = queued(store)
    with pytest.raises(ZeroDivisionError), writers.unit_of_work() as uow:
        uow.append_audit(_event("undone"))
        raise ZeroDivisionError
    done = threading.Event()

    def after() -> None:
        with writers.unit_of_work() as uow:
            uow.append_audit(_event("kept"))
        done.set()

    threading.Thread(target=after).start()
    assert done.wait(WAIT)
    with store.unit_of_work() as uow:
        assert [e.event for e in uow.list_audit()] == ["kept"]


def test_only_sqlite_is_queued_and_the_store_stays_reachable(store: SqlStore) -> None:
    wrapped = queued(store)
    assert isinstance(wrapped, WriterQueue)
    assert wrapped.engine is store.engine  # what callers read of the store is still there
    postgres = SqlStore(create_engine("postgresql+psycopg://broker@127.0.0.1:1/broker"))  # never connected
    assert queued(postgres) is postgres
