"""Outcomes pushed from the event feed: agent callbacks, webhook resolutions, Slack updates."""

from __future__ import annotations

import json
import logging
import threading

import pytest

from cloud_broker.notify.dispatcher import Dispatcher
from cloud_broker.notify.webhook import (
    AGENT_CALLBACK,
    DELIVERED,
    FAILED,
    MAX_ATTEMPTS,
    PENDING,
    SLACK_PAGE,
    SLACK_UPDATE,
    WEBHOOK_PAGE,
    WEBHOOK_RESOLUTION,
)
from tests.notify.pager_fixtures import (
    SLACK_CHANNEL,
    SOURCE_CONTEXT,
    NotifyBroker,
    RecordingSlack,
    Setup,
)

pytestmark = pytest.mark.both_stores

ORIGINAL = f"Original conversation: slack {SOURCE_CONTEXT['channel_id']}, thread {SOURCE_CONTEXT['thread_ts']}"


def _kinds(broker: NotifyBroker, grant_id: str) -> dict[str, str]:
    return {r.kind: r.status for r in broker.deliveries(grant_id)}


def test_approval_pushes_the_agent_callback_and_the_webhook_resolution(nb: NotifyBroker) -> None:
    grant_id = nb.request()["grant_id"]
    nb.broker.approvals.approve(grant_id, "alice")
    assert nb.dispatcher().run_once() == 2
    assert _kinds(nb, grant_id) == {WEBHOOK_PAGE: DELIVERED, WEBHOOK_RESOLUTION: DELIVERED, AGENT_CALLBACK: DELIVERED}
    [push] = nb.receiver.on("/callback")
    assert push.verified and push.headers["X-Cloud-Broker-Event"] == AGENT_CALLBACK
    body = push.json()
    assert body["grant_id"] == grant_id and body["status"] == "active" and body["event"] == "grant.minted"
    assert body["approved_by"] == ["alice"] and body["source_context"] == SOURCE_CONTEXT
    assert "approved by alice" in body["message"] and body["message"].endswith(ORIGINAL)
    [_page, resolution] = nb.receiver.on("/hook")
    assert resolution.verified and resolution.headers["X-Cloud-Broker-Event"] == WEBHOOK_RESOLUTION
    assert resolution.json()["type"] == "grant_resolved" and resolution.json()["event"] == body
    assert resolution.json()["grant"]["resolution"] == "approved by alice"


def test_running_again_or_restarting_never_delivers_twice(nb: NotifyBroker) -> None:
    grant_id = nb.request()["grant_id"]
    nb.broker.approvals.approve(grant_id, "alice")
    first = nb.dispatcher()
    assert first.run_once() == 2
    assert first.run_once() == 0
    assert nb.dispatcher().run_once() == 0  # a restart (or a second process) reads the stored cursor
    nb.advance(3600)
    assert nb.dispatcher().run_once() == 0
    assert len(nb.receiver.on("/callback")) == 1 and len(nb.receiver.on("/hook")) == 2
    with nb.deps.store.unit_of_work() as uow:
        assert uow.read_cursor("dispatcher") == uow.last_audit_seq()


def test_two_dispatchers_racing_enqueue_each_event_once(nb: NotifyBroker) -> None:
    grant_ids = [nb.request()["grant_id"] for _ in range(3)]
    for grant_id in grant_ids:
        nb.broker.approvals.deny(grant_id, "alice", "not now")
    dispatchers = [nb.dispatcher() for _ in range(4)]
    threads = [threading.Thread(target=d.enqueue_new_events) for d in dispatchers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rows = [r for r in nb.deliveries() if r.kind in (AGENT_CALLBACK, WEBHOOK_RESOLUTION)]
    assert len(rows) == 6


def test_denial_pushes_the_reason_to_the_agent(nb: NotifyBroker) -> None:
    grant_id = nb.request()["grant_id"]
    nb.broker.approvals.deny(grant_id, "bob", "too broad")
    nb.dispatcher().run_once()
    body = nb.receiver.on("/callback")[0].json()
    assert body["status"] == "denied" and body["denial_reason"] == "too broad"
    assert "was denied: too broad" in body["message"] and ORIGINAL in body["message"]
    assert nb.receiver.on("/hook")[1].json()["grant"]["resolution"] == "denied by bob: too broad"


def test_expiry_of_a_waiting_request_is_pushed(nb: NotifyBroker) -> None:
    grant_id = nb.request()["grant_id"]
    nb.advance(nb.deps.config.broker.pending_timeout_seconds + 1)
    nb.broker.sweeper.sweep()
    nb.dispatcher().run_once()
    body = nb.receiver.on("/callback")[0].json()
    assert body["grant_id"] == grant_id and body["status"] == "expired" and ORIGINAL in body["message"]


def test_auto_approved_and_released_grants_push_nothing(nb: NotifyBroker) -> None:
    reply = nb.request(actions=["s3:GetObject"], resources=["arn:aws:s3:::reports/*"])
    released = nb.client.post(f"/aws/grants/{reply['grant_id']}/release", params={"agent_id": nb.agent_id},
                              headers=nb.headers())
    assert released.status_code == 200, released.text
    assert nb.dispatcher().run_once() == 0
    assert nb.receiver.calls == [] and nb.deliveries() == []


def test_an_approver_revoking_an_auto_approved_grant_tells_the_agent(nb: NotifyBroker) -> None:
    reply = nb.request(actions=["s3:GetObject"], resources=["arn:aws:s3:::reports/*"])
    nb.broker.approvals.revoke(reply["grant_id"], "alice", "incident")
    nb.dispatcher().run_once()
    body = nb.receiver.on("/callback")[0].json()
    assert body["status"] == "revoked" and body["event"] == "grant.revoked" and "incident" in body["message"]


@pytest.mark.parametrize("wired", [Setup(webhook=False, slack_channel=True, slack=RecordingSlack(), two_approvals=True)],
                         indirect=True)
def test_slack_message_shows_partial_then_final_approval(wired: NotifyBroker) -> None:
    assert wired.slack is not None
    grant_id = wired.request()["grant_id"]
    assert wired.slack.posts[0][1].required_approvals == 2
    wired.broker.approvals.approve(grant_id, "alice")
    dispatcher = wired.dispatcher()
    dispatcher.run_once()
    [(channel, ts, card)] = wired.slack.updates
    assert (channel, ts) == (SLACK_CHANNEL, "1718000000.000001")
    assert card.status == "pending" and card.resolution == "1 of 2 approvals (alice)"
    assert wired.receiver.on("/callback") == []  # still waiting: nothing to tell the agent yet
    wired.broker.approvals.approve(grant_id, "bob")
    dispatcher.run_once()
    final = wired.slack.updates[-1][2]
    assert final.status == "active" and final.resolution == "approved by alice, bob"
    assert wired.receiver.on("/callback")[0].json()["approved_by"] == ["alice", "bob"]
    updates = wired.deliveries(grant_id, SLACK_UPDATE)
    assert [u.status for u in updates] == [DELIVERED, DELIVERED] and all(u.target == SLACK_CHANNEL for u in updates)
    assert [u.payload["resolution"] for u in updates] == ["1 of 2 approvals (alice)", "approved by alice, bob"]


@pytest.mark.parametrize("wired", [Setup(webhook=False, slack_channel=True, slack=RecordingSlack())], indirect=True)
def test_a_denied_slack_page_is_updated_with_who_and_why(wired: NotifyBroker) -> None:
    assert wired.slack is not None
    grant_id = wired.request()["grant_id"]
    wired.broker.approvals.deny(grant_id, "carol", "use the read role")
    wired.dispatcher().run_once()
    card = wired.slack.updates[-1][2]
    assert card.status == "denied" and card.resolution == "denied by carol: use the read role"
    assert _kinds(wired, grant_id) == {SLACK_PAGE: DELIVERED, SLACK_UPDATE: DELIVERED, AGENT_CALLBACK: DELIVERED}


def test_retries_back_off_and_give_up_after_eight_attempts(nb: NotifyBroker) -> None:
    grant_id = nb.request()["grant_id"]
    nb.broker.approvals.approve(grant_id, "alice")
    nb.receiver.fail_first = 1000
    dispatcher = nb.dispatcher()
    dispatcher.run_once()
    waits = []
    for _ in range(MAX_ATTEMPTS - 1):
        [row] = nb.deliveries(grant_id, AGENT_CALLBACK)
        assert row.status == PENDING and row.next_attempt_at is not None
        waits.append((row.next_attempt_at - row.updated_at).total_seconds())
        nb.advance(waits[-1])
        dispatcher.run_once()
    assert waits == [1, 2, 4, 8, 16, 32, 64]
    [row] = nb.deliveries(grant_id, AGENT_CALLBACK)
    assert (row.status, row.attempts, row.response_status, row.next_attempt_at) == (FAILED, MAX_ATTEMPTS, 500, None)
    assert row.last_error == "HTTP 500: receiver is down"
    nb.advance(3600)
    assert dispatcher.run_once() == 0
    assert len(nb.receiver.on("/callback")) == MAX_ATTEMPTS


def test_run_forever_stops_when_told(nb: NotifyBroker) -> None:
    grant_id = nb.request()["grant_id"]
    nb.broker.approvals.approve(grant_id, "alice")
    stop = threading.Event()
    dispatcher = nb.dispatcher()
    worker = threading.Thread(target=dispatcher.run_forever, args=(stop,), kwargs={"interval": 0.01})
    worker.start()
    try:
        for _ in range(500):
            if _kinds(nb, grant_id).get(AGENT_CALLBACK) == DELIVERED:
                break
            stop.wait(0.01)
    finally:
        stop.set()
        worker.join(timeout=10)
    assert not worker.is_alive() and _kinds(nb, grant_id)[AGENT_CALLBACK] == DELIVERED


def test_no_secret_reaches_a_row_a_log_line_or_a_payload(nb: NotifyBroker, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    nb.receiver.fail_first = 1
    grant_id = nb.request()["grant_id"]
    nb.broker.approvals.approve(grant_id, "alice")
    creds = nb.client.post(f"/aws/grants/{grant_id}/credentials", params={"agent_id": nb.agent_id},
                           headers=nb.headers()).json()["credentials"]
    dispatcher = nb.dispatcher()
    dispatcher.run_once()
    nb.advance(5)
    dispatcher.run_once()
    assert _kinds(nb, grant_id) == {WEBHOOK_PAGE: DELIVERED, WEBHOOK_RESOLUTION: DELIVERED, AGENT_CALLBACK: DELIVERED}
    secrets = [*nb.secrets.values(), *(v for v in creds.values() if isinstance(v, str) and len(v) >= 16)]
    assert len(secrets) >= 4
    rows = json.dumps([r.__dict__ for r in nb.deliveries()], default=str)
    received = b"".join(c.body + json.dumps(c.headers).encode() for c in nb.receiver.calls).decode()
    for secret in secrets:
        assert secret not in rows and secret not in caplog.text and secret not in received
    assert any("delivered agent_callback" in r.getMessage() for r in caplog.records)


def test_a_dispatcher_that_starts_late_skips_stale_events(nb: NotifyBroker) -> None:
    grant_id = nb.request()["grant_id"]
    nb.broker.approvals.approve(grant_id, "alice")
    nb.advance(25 * 3600)
    assert Dispatcher(nb.deps, secrets=nb.secrets).run_once() == 0
    assert nb.receiver.on("/callback") == []
