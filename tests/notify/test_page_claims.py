"""Two broker processes on one store page a grant once: the claim to page it is held in the
store, not in a process. Each broker here has its own engine (its own connections), as two
processes would; the module runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from cloud_broker.notify.pager import BrokerPager
from cloud_broker.service.deps import Deps
from cloud_broker.store.sql import SqlStore
from tests.notify.pager_fixtures import RecordingSlack, Setup, notify_broker

pytestmark = pytest.mark.both_stores


def test_two_processes_paging_one_grant_post_one_card(emulator: Any, tmp_path: Path, store_url: str) -> None:
    entered = threading.Event()

    def slow_post(card: Any) -> None:
        entered.set()
        time.sleep(0.3)  # the Slack round trip, during which the other process asks

    slack = RecordingSlack()
    setup = Setup(webhook=False, slack_channel=True, slack=slack, callback=False)
    with contextmanager(notify_broker)(emulator, tmp_path, setup, store_url=store_url) as nb:
        grant = nb.request(run_id=str(uuid.uuid4()))
        assert len(slack.posts) == 1
        with nb.deps.store.unit_of_work() as uow:  # forget the first page: page it afresh, twice at once
            stored = uow.get_grant(grant["grant_id"])
            uow._c.exec_driver_sql("DELETE FROM deliveries")  # type: ignore[attr-defined]
        slack.posts.clear()
        slack.during_post = slow_post
        other_store = SqlStore.open(store_url)
        other: Deps = dataclasses.replace(nb.deps, store=other_store)
        pagers = [nb.deps.pager, BrokerPager(other, slack=slack, secrets=nb.secrets)]
        reports: list[Any] = []

        def page(pager: Any, wait: bool) -> None:
            if wait:
                entered.wait(10)
            reports.append(pager.page(stored, 1))

        threads = [threading.Thread(target=page, args=(p, i == 1)) for i, p in enumerate(pagers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        other_store.engine.dispose()
        assert len(slack.posts) == 1
        assert [r.status for r in reports] == ["sent", "sent"]
        assert reports[0].permalink == reports[1].permalink
