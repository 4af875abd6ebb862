"""What the store does when its database cannot serve: ``Unavailable`` for a fault that a
retry may outlive (busy, unreachable, pool exhausted), the error as it is for a bug or a
schema problem; and reading units of work that take no write lock and cannot write."""

from __future__ import annotations

import socket
import sqlite3
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError

from cloud_broker.domain.grants import Grant, GrantStatus
from cloud_broker.errors import Unavailable
from cloud_broker.store.engine import PoolBounds, create_store_engine
from cloud_broker.store.sql import SqlStore, WriteWhileReading
from tests.filesystem_faults import immutable


def _grant() -> Grant:
    now = datetime.now(UTC)
    return Grant(
        grant_id=str(uuid.uuid4()), family="aws", team="t", host="h", agent_id=str(uuid.uuid4()),
        run_id=str(uuid.uuid4()), target="123456789012",
        scope={"actions": ("s3:GetObject",), "resources": ("arn:aws:s3:::b/*",), "regions": ("us-east-1",)},
        ttl=timedelta(seconds=900), status=GrantStatus.PENDING, decision="route_to_approver",
        created_at=now, updated_at=now, pending_expires_at=now + timedelta(hours=1),
    )


@pytest.mark.both_stores
def test_a_write_inside_a_reading_unit_of_work_is_refused_as_a_bug_and_rolled_back(store_url: str) -> None:
    store = SqlStore.open(store_url)
    grant = _grant()
    with pytest.raises((WriteWhileReading, DBAPIError)) as refused, store.reading() as uow:
        uow.insert_grant(grant)
    assert not isinstance(refused.value, Unavailable)  # a bug, not a fault: no 503 hides it
    with store.reading() as uow:
        assert uow.find_grant(grant.grant_id) is None
    store.engine.dispose()


@pytest.mark.both_stores
def test_a_missing_table_is_an_error_not_an_unavailable_store(store_kind: str, tmp_path: Path,
                                                             request: pytest.FixtureRequest) -> None:
    """SQLite reports it as an ``OperationalError``, like a read-only file: only the driver's
    code tells them apart."""
    if store_kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'empty.db'}"
    else:
        url = request.getfixturevalue("postgres_server").new_database(migrated=False)
    store = SqlStore(create_store_engine(url))
    with pytest.raises(DBAPIError) as failed, store.reading() as uow:
        uow.find_grant(str(uuid.uuid4()))
    assert not isinstance(failed.value, Unavailable)
    store.engine.dispose()


@pytest.mark.both_stores
def test_a_database_that_cannot_be_reached_is_unavailable(store_kind: str, tmp_path: Path) -> None:
    if store_kind == "sqlite":
        url, why = f"sqlite:///{tmp_path}", "its database file cannot be opened"  # a folder, not a file
    else:
        url, why = f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/none", "cannot be reached"
    store = SqlStore(create_store_engine(url))
    for verbs in (store.reading, store.unit_of_work):
        with pytest.raises(Unavailable, match=why) as refused, verbs():
            pass
        assert refused.value.status == 503 and refused.value.code == "STORE_UNAVAILABLE"
    store.engine.dispose()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("store_kind", ["sqlite"])
def test_on_sqlite_a_reader_neither_waits_for_a_writer_nor_holds_one_up(store_url: str) -> None:
    SqlStore.open(store_url).engine.dispose()  # the schema
    store = SqlStore(create_store_engine(store_url, busy_timeout=timedelta(0)))
    grant = _grant()
    with store.unit_of_work() as uow:
        uow.insert_grant(grant)
    other = sqlite3.connect(store_url.removeprefix("sqlite:///"), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    with store.reading() as uow:
        assert uow.get_grant(grant.grant_id).status is GrantStatus.PENDING
    with pytest.raises(Unavailable, match="busy timeout"), store.unit_of_work() as uow:
        uow.insert_grant(_grant())
    other.execute("ROLLBACK")

    second = _grant()
    with store.reading() as reader:  # a reader midway through its block does not stop a writer
        assert reader.find_grant(second.grant_id) is None
        with store.unit_of_work() as writer:
            writer.insert_grant(second)
    with store.reading() as uow:
        assert uow.get_grant(second.grant_id).status is GrantStatus.PENDING
    other.close()
    store.engine.dispose()


@pytest.mark.parametrize("store_kind", ["postgresql"])
def test_on_postgresql_a_flood_waits_briefly_for_a_connection_then_is_unavailable(store_url: str) -> None:
    bounds = PoolBounds(size=1, overflow=0, timeout=timedelta(milliseconds=100))
    store = SqlStore(create_store_engine(store_url, pool=bounds))
    holding: Any = store.reading()
    holding.__enter__()  # the only connection, in use
    with pytest.raises(Unavailable, match="every connection to it is in use"), store.reading():
        pass
    holding.__exit__(None, None, None)
    with store.reading() as uow:  # given back: served again
        assert uow.last_audit_seq() == 0
    store.engine.dispose()


@pytest.mark.parametrize("store_kind", ["sqlite"])
def test_a_connection_opened_while_the_file_was_read_only_reads_then_is_replaced_once_it_is_writable(
        store_url: str, tmp_path: Path) -> None:
    """SQLite opens a file it may not write read-only, and such a connection refuses writes for
    good: pooled, it would fail writes long after the fault."""
    store = SqlStore.open(store_url)
    with store.unit_of_work() as uow:
        uow.insert_grant(_grant())
    with immutable(tmp_path / "broker.db", tmp_path / "broker.db-wal"):
        for _ in range(2):  # the first spoils the pooled connection; the second opens one read-only
            with pytest.raises(Unavailable), store.unit_of_work() as uow:
                uow.insert_grant(_grant())
        with store.reading() as uow:  # the read-only connection serves reads meanwhile
            assert len(uow.list_grants()) == 1
    with store.unit_of_work() as uow:  # and is replaced, not tried, once the file is writable
        uow.insert_grant(_grant())
    with store.reading() as uow:
        assert len(uow.list_grants()) == 2
    store.engine.dispose()


@pytest.mark.parametrize("store_kind", ["sqlite"])
def test_a_connection_that_failed_a_write_for_a_sqlite_fault_is_discarded_not_pooled(
        store_url: str, tmp_path: Path) -> None:
    """After "disk I/O error" or "readonly database" the connection may keep state that outlives
    the fault (a transaction rolled back behind the caller's back, files opened read-only)."""
    store = SqlStore.open(store_url)
    with store.unit_of_work() as uow:
        uow.insert_grant(_grant())
    discarded: list[str] = []
    event.listen(store.engine, "invalidate", lambda _c, _r, error: discarded.append(
        getattr(getattr(error, "orig", error), "sqlite_errorname", "")))
    with immutable(tmp_path / "broker.db", tmp_path / "broker.db-wal"):
        for _ in range(2):
            with pytest.raises(Unavailable), store.unit_of_work() as uow:
                uow.insert_grant(_grant())
    assert discarded == ["SQLITE_IOERR_WRITE", "SQLITE_READONLY"]  # the pooled one, then one opened meanwhile
    store.engine.dispose()
