"""Several dispatchers on one store (``serve`` plus each ``mcp --config`` process): a due row is
sent by one of them, and a process lacking a secret leaves the row to one that has it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import pytest

from cloud_broker.notify.dispatcher import NO_SLACK, Dispatcher
from cloud_broker.notify.webhook import (
    AGENT_CALLBACK,
    DELIVERED,
    FAILED,
    MAX_ATTEMPTS,
    PENDING,
    SLACK_UPDATE,
    WEBHOOK_RESOLUTION,
)
from cloud_broker.service.jobs import HANDOFF
from cloud_broker.service.ports import Delivery
from cloud_broker.store.sql import SqlStore, SqlUnitOfWork
from tests.notify.pager_fixtures import (
    CALLBACK_ENV,
    NotifyBroker,
    RecordingSlack,
    Setup,
)

pytestmark = pytest.mark.both_stores


def _approved(broker: NotifyBroker) -> str:
    grant_id = broker.request()["grant_id"]
    broker.broker.approvals.approve(grant_id, "alice")
    return grant_id


def test_a_dispatcher_holding_a_stale_due_list_neither_resends_nor_overwrites(
        nb: NotifyBroker, monkeypatch: pytest.MonkeyPatch) -> None:
    grant_id = _approved(nb)
    first, second = nb.dispatcher(), nb.dispatcher()
    first.enqueue_new_events()
    with nb.deps.store.unit_of_work() as uow:
        stale = uow.due_deliveries(nb.clock())
    assert {r.kind for r in stale} == {AGENT_CALLBACK, WEBHOOK_RESOLUTION}
    assert first.send_due() == 2
    # The second process read the same due rows before the first one sent them.
    monkeypatch.setattr(SqlUnitOfWork, "due_deliveries", lambda self, now, limit=50, kinds=None: stale)
    assert second.send_due() == 0
    assert len(nb.receiver.on("/callback")) == 1 and len(nb.receiver.on("/hook")) == 2
    rows = nb.deliveries(grant_id)
    assert {r.kind: (r.status, r.attempts) for r in rows if r.kind != "webhook_page"} == {
        AGENT_CALLBACK: (DELIVERED, 1), WEBHOOK_RESOLUTION: (DELIVERED, 1)}


def test_dispatchers_that_read_the_due_list_together_send_each_row_once(
        nb: NotifyBroker, monkeypatch: pytest.MonkeyPatch) -> None:
    grant_ids = [_approved(nb) for _ in range(2)]
    dispatchers = [nb.dispatcher() for _ in range(4)]
    dispatchers[0].enqueue_new_events()
    together, local = threading.Barrier(len(dispatchers), timeout=30), threading.local()
    original_due, original_uow = SqlUnitOfWork.due_deliveries, SqlStore.unit_of_work

    def due(self: SqlUnitOfWork, now: datetime, limit: int = 50, kinds: tuple[str, ...] | None = None) -> list[Delivery]:
        local.read_due = True
        return original_due(self, now, limit, kinds)

    @contextmanager
    def unit_of_work(self: SqlStore) -> Iterator[SqlUnitOfWork]:
        with original_uow(self) as uow:
            yield uow
        if getattr(local, "read_due", False):
            local.read_due = False
            together.wait()  # outside the transaction (each holds the write lock): all hold the same rows

    monkeypatch.setattr(SqlUnitOfWork, "due_deliveries", due)
    monkeypatch.setattr(SqlStore, "unit_of_work", unit_of_work)
    counts: list[int] = []
    threads = [threading.Thread(target=lambda d=d: counts.append(d.send_due())) for d in dispatchers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(counts) == 4 and sum(counts) == 4  # however they split them, four sends in all
    assert len(nb.receiver.on("/callback")) == 2 and len(nb.receiver.on("/hook")) == 4
    for grant_id in grant_ids:
        assert {r.status for r in nb.deliveries(grant_id)} == {DELIVERED}


@pytest.mark.parametrize("wired", [Setup(broker_secrets=("OPS_HOOK_SECRET",))], indirect=True)
def test_a_process_without_the_callback_secret_retries_and_the_one_with_it_delivers(wired: NotifyBroker) -> None:
    grant_id = _approved(wired)
    secretless = wired.dispatcher()
    secretless.run_once()
    [row] = wired.deliveries(grant_id, AGENT_CALLBACK)
    assert (row.status, row.attempts) == (PENDING, 0)  # left to a process that has the secret, for now
    wired.advance(HANDOFF.total_seconds())
    assert secretless.run_once() == 1
    [row] = wired.deliveries(grant_id, AGENT_CALLBACK)
    assert (row.status, row.attempts, row.last_error) == (
        PENDING, 1, f"secret env {CALLBACK_ENV} is not set in this process")
    assert row.next_attempt_at is not None and (row.next_attempt_at - row.updated_at).total_seconds() == 1
    assert wired.receiver.on("/callback") == []
    value = wired.receiver.secrets["/callback"]
    server = Dispatcher(wired.deps, secrets={**wired.secrets, CALLBACK_ENV: value})
    wired.advance(1)
    assert server.run_once() == 1
    [row] = wired.deliveries(grant_id, AGENT_CALLBACK)
    assert (row.status, row.attempts, row.last_error) == (DELIVERED, 2, None)
    [call] = wired.receiver.on("/callback")
    assert call.verified and value not in repr(wired.deliveries())


@pytest.mark.parametrize("wired", [Setup(broker_secrets=("OPS_HOOK_SECRET",))], indirect=True)
def test_a_secret_no_process_holds_still_ends_after_the_attempt_cap(wired: NotifyBroker) -> None:
    grant_id = _approved(wired)
    secretless = wired.dispatcher()
    for _ in range(MAX_ATTEMPTS + 2):
        wired.advance(600)
        secretless.run_once()
    [row] = wired.deliveries(grant_id, AGENT_CALLBACK)
    assert (row.status, row.attempts, row.next_attempt_at) == (FAILED, MAX_ATTEMPTS, None)
    assert wired.receiver.on("/callback") == []


@pytest.mark.parametrize("wired", [Setup(webhook=False, slack_channel=True, slack=RecordingSlack())], indirect=True)
def test_a_process_without_the_slack_bot_leaves_the_card_update_to_one_with_it(wired: NotifyBroker) -> None:
    assert wired.slack is not None
    grant_id = wired.request()["grant_id"]
    wired.broker.approvals.deny(grant_id, "carol", "not now")
    botless = Dispatcher(wired.deps, secrets=wired.secrets)
    botless.run_once()
    [row] = wired.deliveries(grant_id, SLACK_UPDATE)
    assert (row.status, row.attempts) == (PENDING, 0)  # left to the process with the bot, for now
    wired.advance(HANDOFF.total_seconds())
    botless.run_once()
    [row] = wired.deliveries(grant_id, SLACK_UPDATE)
    assert (row.status, row.attempts, row.last_error) == (PENDING, 1, NO_SLACK)
    wired.advance(1)
    wired.dispatcher().run_once()
    [row] = wired.deliveries(grant_id, SLACK_UPDATE)
    assert (row.status, row.attempts) == (DELIVERED, 2) and wired.slack.updates[-1][2].status == "denied"
