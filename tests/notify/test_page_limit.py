"""A flood of requests on one ceiling: a few cards, then one summary message, through the real
pager, the real Slack client against the fake Slack server, and a real webhook receiver."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloud_broker.families.aws.wire import GrantCreateBody
from cloud_broker.notify.slack import SlackNotifier
from cloud_broker.notify.webhook import SLACK_PAGE, WEBHOOK_PAGE
from tests.api.conftest import ACCOUNT
from tests.fakes.fake_slack import FakeMessage, FakeSlack
from tests.notify.pager_fixtures import WRITE_REPORTS, NotifyBroker, Setup, notify_broker

LIMIT = 3
WINDOW = 600
STAGING = "210987654321"
PUBLIC_URL = "https://broker.example"
# Delivery kinds are part of what receivers see (X-Cloud-Broker-Event) and the delivery log.
PAGE_BATCHED, WEBHOOK_SUMMARY = "page_batched", "webhook_summary"


def _staging(raw: dict[str, Any]) -> None:
    """A second account of team data, paged in the same Slack channel and webhook."""
    raw["aws_accounts"].append({
        "account_id": STAGING, "display_name": "Staging", "role_arn": f"arn:aws:iam::{STAGING}:role/broker",
        "default_region": "us-east-1", "allowed_regions": ["us-east-1"]})
    raw["ceilings"].append({**raw["ceilings"][0], "account_id": STAGING})


@pytest.fixture
def flood(emulator: Any, tmp_path: Path, slack: FakeSlack, bot_token: str) -> Iterator[NotifyBroker]:
    setup = Setup(slack_channel=True, slack=SlackNotifier(bot_token, base_url=slack.base_url), edit=_staging,
                  broker={"max_pages_per_window": LIMIT, "page_window_seconds": WINDOW, "public_url": PUBLIC_URL})
    for broker in notify_broker(emulator, tmp_path, setup):
        _to_the_start_of_a_window(broker)
        yield broker


def _to_the_start_of_a_window(nb: NotifyBroker) -> None:
    """Windows are aligned on the epoch: start each test just inside one, so a burst never
    straddles two whatever the wall clock says."""
    nb.advance(WINDOW - nb.clock().timestamp() % WINDOW + 1)


def _burst(nb: NotifyBroker, count: int, account: str = ACCOUNT) -> list[dict[str, Any]]:
    """``count`` pending requests, each a byte apart from the others, each from its own run."""
    return [nb.request(account_id=account, resources=[f"arn:aws:s3:::reports/{uuid.uuid4().hex[:8]}/*"])
            for _ in range(count)]


def _cards(slack: FakeSlack) -> list[FakeMessage]:
    return [m for m in slack.messages if m.action_ids()]


def _summaries(slack: FakeSlack) -> list[FakeMessage]:
    return [m for m in slack.messages if not m.action_ids()]


def _hook_types(nb: NotifyBroker) -> list[str]:
    return [c.json()["type"] for c in nb.receiver.on("/hook")]


def test_a_burst_beyond_the_limit_gets_one_summary_whose_count_is_updated(flood: NotifyBroker,
                                                                         slack: FakeSlack) -> None:
    replies = _burst(flood, LIMIT + 4)
    assert [r["status"] for r in replies] == ["pending"] * (LIMIT + 4)
    paged, batched = replies[:LIMIT], replies[LIMIT:]
    assert len(_cards(slack)) == LIMIT
    [summary] = _summaries(slack)
    assert "1 more access request for team data on account Sandbox" in summary.text
    flood.dispatcher().run_once()
    assert len(_cards(slack)) == LIMIT and _summaries(slack) == [summary]
    assert summary.updates and "4 more access requests for team data on account Sandbox" in summary.text
    assert f"<{PUBLIC_URL}/console/|Review them in the console>" in str(summary.blocks)
    # The agent is told the truth: its request reached the channel, inside the summary.
    permalink = f"https://fake-slack.example/archives/C0APPROVALS/p{summary.ts.replace('.', '')}"
    for reply in batched:
        assert (reply["notification_status"], reply["notification_batched"], reply["notification_permalink"],
                reply["notification_channel_name"]) == ("sent", True, permalink, "approvals")
    for reply in paged:
        assert reply["notification_status"] == "sent" and "notification_batched" not in reply
        assert reply["notification_permalink"] != permalink
    assert [len(flood.deliveries(r["grant_id"], SLACK_PAGE)) for r in replies] == [1] * LIMIT + [0] * 4
    assert [len(flood.deliveries(r["grant_id"], PAGE_BATCHED)) for r in replies] == [0] * LIMIT + [1] * 4


def test_webhooks_get_the_first_pages_and_one_summary_event(flood: NotifyBroker) -> None:
    replies = _burst(flood, LIMIT + 3)
    flood.dispatcher().run_once()
    assert _hook_types(flood) == ["approval_requested"] * LIMIT + ["approval_requests_batched"]
    assert all(c.verified for c in flood.receiver.on("/hook"))
    event = flood.receiver.on("/hook")[-1].json()
    assert (event["team"], event["account_id"], event["count"], event["page_limit"]) == ("data", ACCOUNT, 1, LIMIT)
    assert event["first_grant_id"] == replies[LIMIT]["grant_id"]
    assert event["console_url"] == f"{PUBLIC_URL}/console/" and "Review them in the console" in event["message"]
    [row] = flood.deliveries(kind=WEBHOOK_SUMMARY)
    assert row.grant_id is None and row.payload == event
    assert [len(flood.deliveries(r["grant_id"], WEBHOOK_PAGE)) for r in replies] == [1] * LIMIT + [0] * 3


def test_another_ceiling_and_the_next_window_page_one_by_one_again(flood: NotifyBroker, slack: FakeSlack) -> None:
    _burst(flood, LIMIT + 1)
    assert (len(_cards(slack)), len(_summaries(slack))) == (LIMIT, 1)
    [staging] = _burst(flood, 1, account=STAGING)
    assert "notification_batched" not in staging and len(_cards(slack)) == LIMIT + 1
    flood.advance(WINDOW)
    [later] = _burst(flood, 1)
    assert "notification_batched" not in later and len(_cards(slack)) == LIMIT + 2
    assert len(_summaries(slack)) == 1 and _hook_types(flood).count("approval_requested") == LIMIT + 2


def test_a_repeated_batched_request_reports_the_summary_and_pages_nobody(flood: NotifyBroker,
                                                                         slack: FakeSlack) -> None:
    _burst(flood, LIMIT)
    run = str(uuid.uuid4())
    first = flood.request(run_id=run, resources=["arn:aws:s3:::reports/again/*"])
    again = flood.request(run_id=run, resources=["arn:aws:s3:::reports/again/*"])
    assert again["grant_id"] == first["grant_id"] and again["repeated_request"] is True
    assert again["notification_batched"] is True and again["notification_status"] == "sent"
    assert again["notification_permalink"] == first["notification_permalink"]
    flood.dispatcher().run_once()
    assert (len(_cards(slack)), len(_summaries(slack))) == (LIMIT, 1)
    assert _hook_types(flood) == ["approval_requested"] * LIMIT + ["approval_requests_batched"]


def test_requests_racing_never_page_more_than_the_limit(flood: NotifyBroker, slack: FakeSlack) -> None:
    racers = 8
    barrier, outcomes, errors = threading.Barrier(racers), [], []

    def file_one() -> None:
        body = {**WRITE_REPORTS, "account_id": ACCOUNT, "regions": ["us-east-1"], "ttl_seconds": 900,
                "agent_id": flood.agent_id, "run_id": str(uuid.uuid4()),
                "resources": [f"arn:aws:s3:::reports/{uuid.uuid4().hex[:8]}/*"]}
        ask = GrantCreateBody(**body).to_ask()
        barrier.wait()
        try:
            outcomes.append(flood.broker.access.request("host-a", flood.agent_id, ask))
        except Exception as exc:  # noqa: BLE001 - reported below, with the others
            errors.append(exc)

    threads = [threading.Thread(target=file_one) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == [] and len(outcomes) == racers
    assert sorted(bool(o.page.batched) for o in outcomes) == [False] * LIMIT + [True] * (racers - LIMIT)
    flood.dispatcher().run_once()
    assert (len(_cards(slack)), len(_summaries(slack))) == (LIMIT, 1)
    # Racing, the summary event may overtake a page: only how many of each is fixed.
    assert sorted(_hook_types(flood)) == ["approval_requested"] * LIMIT + ["approval_requests_batched"]
    assert f"{racers - LIMIT} more access requests" in _summaries(slack)[0].text


def test_a_request_refused_at_a_cap_pages_nobody(emulator: Any, tmp_path: Path) -> None:
    for nb in notify_broker(emulator, tmp_path, Setup(broker={"max_pending_per_run": 1})):
        run = str(uuid.uuid4())
        nb.request(run_id=run)
        before = (nb.deliveries(), len(nb.receiver.calls))
        reply = nb.client.post("/aws/grants", headers=nb.headers(), json={
            **WRITE_REPORTS, "account_id": ACCOUNT, "regions": ["us-east-1"], "agent_id": nb.agent_id,
            "run_id": run, "resources": ["arn:aws:s3:::reports/other/*"]})
        assert reply.status_code == 429 and reply.json()["error_code"] == "TOO_MANY_PENDING"
        assert (nb.deliveries(), len(nb.receiver.calls)) == before


def test_the_window_is_counted_in_the_store_not_in_one_pager(flood: NotifyBroker, slack: FakeSlack) -> None:
    """A second broker process on the same store (here: a second pager) shares the count."""
    import dataclasses

    from cloud_broker.notify.pager import BrokerPager
    from cloud_broker.service.broker import Broker

    _burst(flood, LIMIT)
    other = BrokerPager(flood.deps, slack=flood.slack, secrets=flood.secrets)
    second = Broker(dataclasses.replace(flood.deps, pager=other))
    body = {**WRITE_REPORTS, "account_id": ACCOUNT, "regions": ["us-east-1"], "agent_id": flood.agent_id,
            "run_id": str(uuid.uuid4()), "resources": ["arn:aws:s3:::reports/elsewhere/*"]}
    outcome = second.access.request("host-a", flood.agent_id, GrantCreateBody(**body).to_ask())
    assert outcome.page is not None and outcome.page.batched is True
    assert (len(_cards(slack)), len(_summaries(slack))) == (LIMIT, 1)


def test_a_summary_that_failed_to_post_is_retried_and_shows_the_count_when_it_goes_out(
        flood: NotifyBroker, slack: FakeSlack) -> None:
    _burst(flood, LIMIT)
    slack.fail("chat.postMessage", "not_in_channel")
    failed = _burst(flood, 2)
    for reply in failed:
        assert (reply["notification_status"], reply["notification_failure_reason"], reply["notification_batched"]) \
            == ("failed", "not_in_channel", True)
    assert _summaries(slack) == []
    slack.fail("chat.postMessage", None)
    flood.advance(1)  # the first retry of the post is due one second after its failure
    flood.dispatcher().run_once()
    [summary] = _summaries(slack)
    assert "2 more access requests" in summary.text
    [later] = _burst(flood, 1)
    assert (later["notification_status"], later["notification_batched"]) == ("sent", True)
    assert later["notification_permalink"].endswith(summary.ts.replace(".", ""))


def test_filing_and_withdrawing_in_a_loop_cannot_page_approvers_without_end(emulator: Any, tmp_path: Path) -> None:
    """Withdrawing frees the pending slot; a batched grant's end is no news to approvers, who
    never saw it on its own, so the loop stays within the page limit."""
    setup = Setup(callback=False, broker={"max_pages_per_window": 1, "page_window_seconds": WINDOW,
                                          "max_pending_per_run": 1, "max_pending_per_agent": 1})
    for nb in notify_broker(emulator, tmp_path, setup):
        _to_the_start_of_a_window(nb)
        run = str(uuid.uuid4())
        for i in range(12):
            pending = nb.request(run_id=run, resources=[f"arn:aws:s3:::reports/{i}/*"])
            released = nb.client.post(f"/aws/grants/{pending['grant_id']}/release",
                                      params={"agent_id": nb.agent_id}, headers=nb.headers())
            assert released.json()["status"] == "revoked"
        nb.dispatcher().run_once()
        assert sorted(_hook_types(nb)) == ["approval_requested", "approval_requests_batched", "grant_resolved"]
