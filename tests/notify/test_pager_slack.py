"""The Slack card's life around its post: a click while it is being posted, the channel Slack
really used, and a repeat request after a failed post."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from cloud_broker.notify.cards import ApprovalCard
from cloud_broker.notify.webhook import (
    DELIVERED,
    FAILED,
    SLACK_PAGE,
    SLACK_UPDATE,
    WEBHOOK_PAGE,
)
from cloud_broker.service.access import REPEAT_WINDOW
from tests.notify.pager_fixtures import (
    SLACK_CHANNEL,
    NotifyBroker,
    RecordingSlack,
    Setup,
    notify_broker,
)

SLACK_ONLY = Setup(webhook=False, slack_channel=True, slack=RecordingSlack())


@pytest.fixture
def wired(request: pytest.FixtureRequest, emulator: Any, tmp_path: Path) -> Iterator[NotifyBroker]:
    yield from notify_broker(emulator, tmp_path, getattr(request, "param", Setup()))


def _slack(broker: NotifyBroker) -> RecordingSlack:
    assert broker.slack is not None
    return broker.slack


@pytest.mark.parametrize("wired", [SLACK_ONLY], indirect=True)
def test_a_click_while_the_card_is_being_posted_still_closes_the_card(wired: NotifyBroker) -> None:
    slack, dispatcher = _slack(wired), wired.dispatcher()

    def click_and_dispatch(card: ApprovalCard) -> None:
        # The card is live in Slack but its row is not written yet: the dispatcher sees the
        # approval, finds no card to update, and moves its cursor past the event.
        wired.broker.approvals.approve(card.grant_id, "alice")
        dispatcher.run_once()

    slack.during_post = click_and_dispatch
    reply = wired.request()
    assert reply["notification_status"] == "sent" and slack.updates == []
    dispatcher.run_once()
    [(channel, ts, card)] = slack.updates
    assert (channel, ts) == (SLACK_CHANNEL, "1718000000.000001")
    assert card.status == "active" and card.resolution == "approved by alice"
    [page] = wired.deliveries(reply["grant_id"], SLACK_PAGE)
    [update] = wired.deliveries(reply["grant_id"], SLACK_UPDATE)
    assert (update.event_seq, update.status) == (page.event_seq, DELIVERED)


@pytest.mark.parametrize("wired", [Setup(webhook=False, slack_channel=True, slack=RecordingSlack(),
                                         two_approvals=True)], indirect=True)
def test_a_partial_approval_while_posting_updates_the_count(wired: NotifyBroker) -> None:
    slack, dispatcher = _slack(wired), wired.dispatcher()

    def click_and_dispatch(card: ApprovalCard) -> None:
        wired.broker.approvals.approve(card.grant_id, "alice")
        dispatcher.run_once()

    slack.during_post = click_and_dispatch
    wired.request()
    dispatcher.run_once()
    [(_, _, card)] = slack.updates
    assert card.status == "pending" and card.approvals == ("alice",) and card.resolution == "1 of 2 approvals (alice)"


@pytest.mark.parametrize("wired", [Setup(webhook=False, slack_channel=True,
                                         slack=RecordingSlack(reply_channel="D0DIRECT"))], indirect=True)
def test_the_card_is_updated_in_the_channel_slack_posted_in(wired: NotifyBroker) -> None:
    reply = wired.request()
    [page] = wired.deliveries(reply["grant_id"], SLACK_PAGE)
    assert page.target == "D0DIRECT" and reply["notification_channel_id"] == "D0DIRECT"
    wired.broker.approvals.deny(reply["grant_id"], "carol", "not now")
    wired.dispatcher().run_once()
    [(channel, _, card)] = _slack(wired).updates
    assert channel == "D0DIRECT" and card.status == "denied"


@pytest.mark.parametrize("wired", [Setup(slack_channel=True, slack=RecordingSlack(post_error="not_in_channel"))],
                         indirect=True)
def test_repeats_retry_a_failed_post_at_most_once_per_window(wired: NotifyBroker) -> None:
    """Repeats are the agent's to send as fast as it likes; a post to Slack per repeat is not."""
    slack, run = _slack(wired), str(uuid.uuid4())
    first = wired.request(run_id=run)
    answers = [wired.request(run_id=run) for _ in range(20)]
    assert len(slack.posts) == 2  # the first page, and one retry by the first repeat
    assert {a["notification_status"] for a in answers} == {"failed"} and first["notification_status"] == "failed"
    wired.clock.offset = REPEAT_WINDOW + timedelta(seconds=1)
    wired.request(run_id=run)
    assert len(slack.posts) == 3


@pytest.mark.parametrize("wired", [Setup(slack_channel=True, slack=RecordingSlack(post_error="not_in_channel"))],
                         indirect=True)
def test_a_repeat_after_a_failed_post_posts_again_and_leaves_delivered_pages_alone(wired: NotifyBroker) -> None:
    slack, run = _slack(wired), str(uuid.uuid4())
    first = wired.request(run_id=run)
    assert first["notification_status"] == "failed" and first["notification_failure_reason"] == "not_in_channel"
    slack.post_error = None  # someone ran /invite @broker-bot
    again = wired.request(run_id=run)
    assert again["grant_id"] == first["grant_id"]
    assert again["notification_status"] == "sent" and again["notification_permalink"]
    assert len(slack.posts) == 2 and len(wired.receiver.on("/hook")) == 1
    rows = wired.deliveries(first["grant_id"])
    assert [(r.kind, r.status) for r in rows] == [(SLACK_PAGE, FAILED), (WEBHOOK_PAGE, DELIVERED), (SLACK_PAGE, DELIVERED)]
    assert rows[2].event_seq > rows[0].event_seq
    third = wired.request(run_id=run)
    assert third["notification_status"] == "sent" and len(slack.posts) == 2
    wired.broker.approvals.deny(first["grant_id"], "carol", "not now")
    wired.dispatcher().run_once()
    [(_, ts, card)] = slack.updates
    assert ts == rows[2].external_ref and card.status == "denied"
