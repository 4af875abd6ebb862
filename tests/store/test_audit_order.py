"""Audit rows commit in seq order on PostgreSQL too, and each append notifies listening brokers.

A feed reader moves its cursor to the highest seq it has seen. If seq 11 could commit while seq
10 was still open, a reader would pass 10 for good and its events would never reach a stream
or a webhook. The append takes a transaction-scoped lock before its seq is drawn; these tests
hold one append open and watch the second wait for it in ``pg_locks``, not on a clock.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, text

from cloud_broker.service.ports import AuditEvent
from cloud_broker.store.audit_watch import CHANNEL
from cloud_broker.store.sql import AUDIT_ORDER_LOCK, SqlStore


def _event(agent: str) -> AuditEvent:
    return AuditEvent(event="grant.requested", actor="test", at=datetime.now(UTC), agent_id=agent, run_id="r-1",
                      detail={"n": 1})


def _waiting_for_the_order_lock(url: str) -> int:
    with create_engine(url).connect() as watcher:
        return int(watcher.execute(text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = :key"),
            {"key": AUDIT_ORDER_LOCK}).scalar_one())


def test_a_second_append_waits_for_the_first_to_commit_and_gets_the_next_seq(pg_url: str) -> None:
    store = SqlStore.open(pg_url)
    seqs: dict[str, int] = {}
    first_open, second_done = threading.Event(), threading.Event()
    release_first = threading.Event()

    def first() -> None:
        with store.unit_of_work() as uow:
            seqs["first"] = uow.append_audit(_event("a-1"))
            first_open.set()
            release_first.wait(30)

    def second() -> None:
        first_open.wait(30)
        with store.unit_of_work() as uow:
            seqs["second"] = uow.append_audit(_event("a-2"))
        second_done.set()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    first_open.wait(30)
    for _ in range(500):  # until the second append blocks on the lock (it must, or this fails)
        if _waiting_for_the_order_lock(pg_url) == 1:
            break
        threading.Event().wait(0.01)
    assert _waiting_for_the_order_lock(pg_url) == 1
    assert not second_done.is_set() and "second" not in seqs  # no seq drawn while the first is open
    release_first.set()
    for thread in threads:
        thread.join(30)
    assert seqs["second"] == seqs["first"] + 1
    with store.reading() as uow:
        assert [e.agent_id for e in uow.list_audit()] == ["a-1", "a-2"]
    store.engine.dispose()


def test_each_committed_append_notifies_once_and_a_rolled_back_one_never(pg_url: str) -> None:
    import psycopg

    store = SqlStore.open(pg_url)
    listener = psycopg.connect(store.engine.url.set(drivername="postgresql").render_as_string(hide_password=False),
                               autocommit=True)
    listener.execute(f"LISTEN {CHANNEL}")
    with store.unit_of_work() as uow:
        uow.append_audit(_event("agent-a"))
    with pytest.raises(RuntimeError), store.unit_of_work() as uow:
        uow.append_audit(_event("agent-rolled-back"))
        raise RuntimeError("roll back")
    with store.unit_of_work() as uow:
        uow.append_audit(_event("agent-b"))
    payloads = [n.payload for n in listener.notifies(timeout=2, stop_after=2)]
    assert payloads == ["agent-a r-1", "agent-b r-1"]
    assert not list(listener.notifies(timeout=0.3))
    listener.close()
    store.engine.dispose()
