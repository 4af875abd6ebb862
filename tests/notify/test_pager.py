"""Paging through a real broker: what the agent is told, what the receiver gets, what is logged."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from cloud_broker.notify.dispatcher import Dispatcher
from cloud_broker.notify.webhook import (
    DELIVERED,
    FAILED,
    PAGE_SLOT,
    PENDING,
    SLACK_PAGE,
    WEBHOOK_PAGE,
)
from tests.api.conftest import ACCOUNT
from tests.notify.pager_fixtures import (
    HOOK_ENV,
    SLACK_CHANNEL,
    NotifyBroker,
    RecordingSlack,
    Setup,
)


def test_webhook_only_page_is_sent_signed_with_grant_and_risk(nb: NotifyBroker) -> None:
    reply = nb.request()
    assert reply["status"] == "pending"
    assert {k: v for k, v in reply.items() if k.startswith("notification_")} == {
        "notification_status": "sent", "notification_channel_name": "ops-hook",
        "notification_channel_id": "webhook:ops-hook"}
    [call] = nb.receiver.on("/hook")
    assert call.verified and call.headers["X-Cloud-Broker-Event"] == "webhook_page"
    body = call.json()
    assert body["type"] == "approval_requested" and body["grant"]["grant_id"] == reply["grant_id"]
    assert body["grant"]["risk"]["highest_access_level"] == "Write" and body["grant"]["risk"]["summary"]
    assert body["grant"]["actions"] == ["s3:PutObject"] and body["grant"]["account_id"] == ACCOUNT
    [row] = nb.deliveries(reply["grant_id"])
    assert (row.kind, row.target, row.status, row.attempts, row.response_status) == (WEBHOOK_PAGE, "ops-hook", DELIVERED, 1, 200)
    assert call.headers["X-Cloud-Broker-Delivery"] == str(row.id)
    assert row.payload == body  # what was sent is what is logged; the signature is not


def test_a_repeated_request_reports_the_first_page_without_paging_again(nb: NotifyBroker) -> None:
    run = str(uuid.uuid4())
    first = nb.request(run_id=run)
    again = nb.request(run_id=run)
    assert again["grant_id"] == first["grant_id"]
    assert again["notification_status"] == "sent" and again["notification_channel_name"] == "ops-hook"
    # Besides the page, only the page limit's record that the grant took one of its window's pages.
    assert len(nb.receiver.on("/hook")) == 1 and [d.kind for d in nb.deliveries()] == [PAGE_SLOT, WEBHOOK_PAGE]


def test_auto_approved_requests_page_nobody(nb: NotifyBroker) -> None:
    reply = nb.request(actions=["s3:GetObject"], resources=["arn:aws:s3:::reports/*"])
    assert reply["status"] == "active" and "notification_status" not in reply
    assert nb.receiver.calls == [] and nb.deliveries() == []


def test_receiver_down_reports_failed_then_retries_deliver_on_the_third_attempt(nb: NotifyBroker) -> None:
    nb.receiver.fail_first = 2
    reply = nb.request()
    assert reply["notification_status"] == "failed"
    assert reply["notification_failure_reason"] == "webhook_not_delivered"
    [row] = nb.deliveries(reply["grant_id"])
    assert (row.status, row.attempts, row.response_status) == (PENDING, 1, 500)
    assert row.last_error == "HTTP 500: receiver is down"
    assert row.next_attempt_at is not None and row.next_attempt_at - row.updated_at == timedelta(seconds=1)
    dispatcher = nb.dispatcher()
    assert dispatcher.run_once() == 0  # not due yet: time has not moved
    nb.advance(1)
    assert dispatcher.run_once() == 1
    [row] = nb.deliveries(reply["grant_id"])
    assert (row.status, row.attempts) == (PENDING, 2)
    assert row.next_attempt_at is not None and row.next_attempt_at - row.updated_at == timedelta(seconds=2)
    nb.advance(1)
    assert dispatcher.run_once() == 0
    nb.advance(1)
    assert dispatcher.run_once() == 1
    [row] = nb.deliveries(reply["grant_id"])
    assert (row.status, row.attempts, row.response_status, row.last_error, row.next_attempt_at) == (
        DELIVERED, 3, 200, None, None)
    calls = nb.receiver.on("/hook")
    assert len(calls) == 3 and all(c.verified for c in calls)
    assert {c.headers["X-Cloud-Broker-Delivery"] for c in calls} == {str(row.id)}
    assert len({c.headers["X-Cloud-Broker-Timestamp"] for c in calls}) == 3  # re-signed per attempt
    # The agent, asking again, now hears the truth.
    assert nb.deps.pager.page(_grant(nb, reply["grant_id"]), 0).status == "sent"


@pytest.mark.parametrize("wired", [Setup(hook_path="/wrong-secret")], indirect=True)
def test_a_receiver_holding_another_secret_refuses_and_the_page_fails(wired: NotifyBroker) -> None:
    wired.receiver.secrets["/wrong-secret"] = "a-different-secret"
    reply = wired.request()
    assert reply["notification_status"] == "failed"
    [call] = wired.receiver.calls
    assert call.verified is False
    [row] = wired.deliveries(reply["grant_id"])
    assert (row.status, row.response_status, row.last_error) == (PENDING, 401, "HTTP 401: invalid signature")


def test_an_unreachable_receiver_is_a_failed_page_with_a_pending_retry(nb: NotifyBroker) -> None:
    nb.receiver.__exit__()
    reply = nb.request()
    assert reply["notification_status"] == "failed"
    [row] = nb.deliveries(reply["grant_id"])
    assert row.status == PENDING and row.attempts == 1 and row.response_status is None
    assert (row.last_error or "").startswith("ConnectError") and nb.receiver.url not in (row.last_error or "")


@pytest.mark.parametrize("wired", [Setup(broker_secrets=())], indirect=True)
def test_a_missing_secret_is_never_sent_unsigned_and_left_to_a_process_that_has_it(wired: NotifyBroker) -> None:
    reply = wired.request()
    assert reply["notification_status"] == "failed"
    assert reply["notification_failure_reason"] == "webhook_secret_not_set"
    [row] = wired.deliveries(reply["grant_id"])
    missing = f"secret env {HOOK_ENV} is not set in this process"
    assert (row.status, row.attempts, row.last_error) == (PENDING, 1, missing)
    wired.advance(600)
    wired.dispatcher().run_once()
    assert wired.receiver.calls == []
    [row] = wired.deliveries(reply["grant_id"])
    assert (row.status, row.attempts) == (PENDING, 2)
    assert wired.deps.pager.channel_status("aws", "data", ACCOUNT) == {"ok": False, "reason": "unknown", "raw_error": missing}
    # The server process holds the secret: it delivers the page the agent's process could not.
    wired.advance(600)
    Dispatcher(wired.deps, secrets={HOOK_ENV: wired.receiver.secrets["/hook"]}).run_once()
    [call] = wired.receiver.on("/hook")
    assert call.verified and wired.deliveries(reply["grant_id"])[0].status == DELIVERED
    assert wired.deps.pager.page(_grant(wired, reply["grant_id"]), 0).status == "sent"


@pytest.mark.parametrize("wired", [Setup(approval_channel=False)], indirect=True)
def test_no_approval_channel_is_not_attempted(wired: NotifyBroker) -> None:
    reply = wired.request()
    assert reply["notification_status"] == "not_attempted"
    assert reply["notification_failure_reason"] == "no_approval_channel_configured"
    assert wired.deps.pager.channel_status("aws", "data", ACCOUNT) == {"ok": False, "reason": "no_approval_channel_configured"}
    assert wired.receiver.calls == [] and wired.deliveries() == []


def test_webhook_only_channel_status_names_the_webhook(nb: NotifyBroker) -> None:
    assert nb.deps.pager.channel_status("aws", "data", ACCOUNT) == {
        "ok": True, "channel": {"id": "webhook:ops-hook", "name": "ops-hook", "kind": "webhook"}}
    reply = nb.client.get("/aws/approval-channel-status", params={"account_id": ACCOUNT, "agent_id": nb.agent_id},
                          headers=nb.headers())
    assert reply.status_code == 200 and reply.json()["channel"]["name"] == "ops-hook"


@pytest.mark.parametrize("wired", [Setup(webhook=False, slack_channel=True, slack=RecordingSlack())], indirect=True)
def test_slack_page_reports_channel_permalink_and_bot(wired: NotifyBroker) -> None:
    reply = wired.request()
    assert {k: v for k, v in reply.items() if k.startswith("notification_")} == {
        "notification_status": "sent", "notification_channel_name": "cloud-approvals",
        "notification_channel_id": SLACK_CHANNEL, "notification_bot_user_handle": "broker-bot",
        "notification_permalink": f"https://slack.example/archives/{SLACK_CHANNEL}/p1718000000.000001"}
    assert wired.slack is not None
    [(channel, card)] = wired.slack.posts
    assert channel == SLACK_CHANNEL and card.grant_id == reply["grant_id"] and card.required_approvals == 1
    [row] = wired.deliveries(reply["grant_id"])
    assert (row.kind, row.target, row.status, row.external_ref) == (SLACK_PAGE, SLACK_CHANNEL, DELIVERED, "1718000000.000001")
    assert row.permalink == reply["notification_permalink"]
    assert wired.deps.pager.channel_status("aws", "data", ACCOUNT)["channel"]["name"] == "cloud-approvals"


@pytest.mark.parametrize("wired", [Setup(slack_channel=True, slack=RecordingSlack(post_error="not_in_channel"))], indirect=True)
def test_failed_slack_post_with_a_delivered_webhook_says_an_operator_was_alerted(wired: NotifyBroker) -> None:
    reply = wired.request()
    assert {k: v for k, v in reply.items() if k.startswith("notification_")} == {
        "notification_status": "failed", "notification_failure_reason": "not_in_channel",
        "notification_channel_id": SLACK_CHANNEL, "notification_bot_user_handle": "broker-bot",
        "notification_operator_alerted": True}
    kinds = {r.kind: r.status for r in wired.deliveries(reply["grant_id"])}
    assert kinds == {SLACK_PAGE: FAILED, WEBHOOK_PAGE: DELIVERED}


@pytest.mark.parametrize("wired", [Setup(slack_channel=True, slack=RecordingSlack(post_error="channel_not_found"))], indirect=True)
def test_failed_slack_post_and_failed_webhook_alert_nobody(wired: NotifyBroker) -> None:
    wired.receiver.fail_first = 1
    reply = wired.request()
    assert reply["notification_status"] == "failed" and reply["notification_operator_alerted"] is False


@pytest.mark.parametrize("wired", [Setup(slack_channel=True, slack=None)], indirect=True)
def test_slack_channel_without_a_bot_is_not_attempted_but_webhook_alerts(wired: NotifyBroker) -> None:
    reply = wired.request()
    assert reply["notification_status"] == "not_attempted"
    assert reply["notification_failure_reason"] == "agent_slack_not_configured"
    assert reply["notification_operator_alerted"] is True
    assert wired.deps.pager.channel_status("aws", "data", ACCOUNT) == {"ok": False, "reason": "agent_slack_not_configured"}


def test_paging_trouble_never_breaks_the_request(nb: NotifyBroker, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("store is on fire")

    monkeypatch.setattr(nb.deps.pager, "_page_rows", broken)
    reply = nb.request()
    assert reply["status"] == "pending" and reply["notification_status"] == "failed"


def _grant(broker: NotifyBroker, grant_id: str) -> Any:
    with broker.deps.store.unit_of_work() as uow:
        return uow.get_grant(grant_id)
