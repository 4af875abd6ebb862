"""A stream served by one broker process delivers what another process wrote, and an idle
stream costs no queries: one watcher per process waits on the store (LISTEN/NOTIFY on
PostgreSQL, one poll on SQLite) instead of each stream polling."""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import Any

import pytest

from cloud_broker.families.aws.wire import GrantCreateBody
from cloud_broker.service.broker import Broker
from cloud_broker.store.sql import SqlStore
from tests.api.conftest import READ_REPORTS, BrokerUnderTest
from tests.api.test_events import LiveBroker, live, open_stream  # noqa: F401 - the fixture

pytestmark = pytest.mark.both_stores


def test_a_grant_filed_through_another_process_reaches_this_processs_stream(
        bt: BrokerUnderTest, live: LiveBroker) -> None:  # noqa: F811 - the fixture
    other_store = SqlStore.open(bt.db_url)
    other = Broker(dataclasses.replace(bt.broker.deps, store=other_store))
    try:
        with open_stream(bt, live) as stream:
            filed = other.access.request("host-a", bt.agent_id, _ask(bt))
            statuses = []
            while "active" not in statuses:
                _, data = stream.next_grant()
                assert data["grant_id"] == filed.grant.grant_id
                statuses.append(data["status"])
    finally:
        other_store.engine.dispose()


def _ask(bt: BrokerUnderTest) -> Any:
    return GrantCreateBody(**{**READ_REPORTS, "agent_id": bt.agent_id, "run_id": bt.grant_body()["run_id"]}).to_ask()


def test_the_watch_wakes_on_another_writers_commit_without_polling(bt: BrokerUnderTest, store_kind: str) -> None:
    other_store = SqlStore.open(bt.db_url)
    watch = bt.broker.deps.store.audit_watch()
    with bt.broker.deps.store.unit_of_work() as uow:
        head = uow.last_audit_seq()
    woke: list[int] = []
    waiter = threading.Thread(target=lambda: woke.append(watch.wait(head, timeout=60).head))
    try:
        waiter.start()
        time.sleep(1.6)  # time in which a poller would have read the head three more times
        other = Broker(dataclasses.replace(bt.broker.deps, store=other_store))
        other.access.request("host-a", bt.agent_id, _ask(bt))
        waiter.join(60)
    finally:
        watch.close()
        other_store.engine.dispose()
    assert woke and woke[0] > head
    # PostgreSQL reads the head once after LISTEN and once when NOTIFY wakes it (the payload is
    # not trusted); SQLite polls every 0.5 s.
    assert watch.reads == 2 if store_kind == "postgresql" else watch.reads >= 3  # type: ignore[attr-defined]


def test_the_store_says_whose_rows_arrived_and_only_their_streams_wake(bt: BrokerUnderTest) -> None:
    from cloud_broker.service.feed_head import FeedHead
    from cloud_broker.service.ports import Moved

    watch = bt.broker.deps.store.audit_watch()
    try:
        start = watch.wait(0, timeout=1).head  # the first wait listens (and says: whose is unknown)
        filed = bt.client.post("/aws/grants", json=bt.grant_body(), headers=bt.headers()).json()
        moved = watch.wait(start, timeout=30)
    finally:
        watch.close()
    with bt.broker.deps.store.unit_of_work() as uow:
        run = uow.get_grant(filed["grant_id"]).run_id
    assert moved.touched == {(bt.agent_id, run)}  # PostgreSQL's notifications; SQLite's read of the new rows

    head = FeedHead(bt.broker.deps.store)
    seen = {name: head.version(*who) for name, who in
            {"agent": (bt.agent_id, None), "run": (bt.agent_id, "run-1"), "other run": (bt.agent_id, "run-2"),
             "other agent": (bt.other_agent_id, None)}.items()}
    head._moved(Moved(10, frozenset({(bt.agent_id, "run-1")})))
    assert head.version(bt.agent_id, None) > seen["agent"] and head.version(bt.agent_id, "run-1") > seen["run"]
    assert head.version(bt.agent_id, "run-2") == seen["other run"]
    assert head.version(bt.other_agent_id, None) == seen["other agent"]
    head._moved(Moved(11, None))  # unknown: everyone looks
    assert head.version(bt.other_agent_id, None) > seen["other agent"]


def test_the_remembered_agents_and_runs_stay_bounded(bt: BrokerUnderTest) -> None:
    """Run ids are the agent's to choose: a flood of runs must not grow the watcher's memory.
    Past the bound it forgets them all and every stream looks once (a spurious read, never a miss)."""
    from cloud_broker.service import feed_head
    from cloud_broker.service.feed_head import FeedHead
    from cloud_broker.service.ports import Moved

    head = FeedHead(bt.broker.deps.store)
    seen = head.version(bt.other_agent_id, None)
    for batch in range(3):
        runs = frozenset((bt.agent_id, f"run-{batch}-{n}") for n in range(feed_head.MAX_KEYS // 4))
        head._moved(Moved(batch + 1, runs))
        assert len(head._touched) <= feed_head.MAX_KEYS
    assert head.version(bt.other_agent_id, None) > seen  # forgotten: everyone was woken once
