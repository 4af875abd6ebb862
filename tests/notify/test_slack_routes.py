"""POST /slack/interactivity on a real broker: clicks approve and deny, forgeries change nothing."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from cloud_broker.domain.grants import GrantStatus
from cloud_broker.notify import slack_routes
from cloud_broker.notify.cards import card_for, required_approvals, resolution_text
from cloud_broker.notify.slack import SlackNotifier
from tests.notify.conftest import APPROVALS, SLACK_IDS, SlackBroker

pytestmark = pytest.mark.both_stores

ALICE, BOB = SLACK_IDS["alice"], SLACK_IDS["bob"]


def _text(reply: Any) -> str:
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["response_type"] == "ephemeral"
    return str(body["text"])


def test_approve_click_mints_once_and_a_second_click_is_already_active(
        slack_broker: SlackBroker, assume_role_calls: list[int]) -> None:
    grant_id = slack_broker.pending_grant()
    assert "is now active" in _text(slack_broker.click("approve", grant_id, ALICE))
    assert slack_broker.status(grant_id) == "active" and len(assume_role_calls) == 1
    again = _text(slack_broker.click("approve", grant_id, ALICE))
    assert again.startswith("ALREADY_RESOLVED:") and "already active" in again
    assert len(assume_role_calls) == 1


def test_deny_click_denies_in_the_approvers_name(slack_broker: SlackBroker) -> None:
    grant_id = slack_broker.pending_grant()
    assert "denied from Slack by alice" in _text(slack_broker.click("deny", grant_id, ALICE))
    with slack_broker.broker.deps.store.unit_of_work() as uow:
        grant = uow.get_grant(grant_id)
    assert (grant.status.value, grant.approver, grant.denial_reason) == ("denied", "alice", "denied from Slack by alice")


def test_a_click_by_an_undeclared_slack_user_changes_nothing(slack_broker: SlackBroker,
                                                            assume_role_calls: list[int]) -> None:
    grant_id = slack_broker.pending_grant()
    text = _text(slack_broker.click("approve", grant_id, "U0MALLORY"))
    assert text.startswith("UNKNOWN_SLACK_USER:") and "nothing was changed" in text
    assert slack_broker.status(grant_id) == "pending" and assume_role_calls == []


def test_a_declared_approver_of_another_ceiling_is_refused(slack_broker: SlackBroker) -> None:
    grant_id = slack_broker.pending_grant()
    assert _text(slack_broker.click("approve", grant_id, BOB)).startswith("NOT_AN_APPROVER:")
    assert _text(slack_broker.click("deny", grant_id, BOB)).startswith("NOT_AN_APPROVER:")
    assert slack_broker.status(grant_id) == "pending"


def test_nobody_approves_a_request_their_own_message_started(slack_broker: SlackBroker) -> None:
    grant_id = slack_broker.pending_grant(turn_initiator={"channel": "slack", "sender_id": ALICE})
    assert _text(slack_broker.click("approve", grant_id, ALICE)).startswith("SELF_APPROVAL:")
    assert slack_broker.status(grant_id) == "pending"


def test_a_wrong_signature_is_401_and_changes_nothing(slack_broker: SlackBroker, assume_role_calls: list[int]) -> None:
    grant_id = slack_broker.pending_grant()
    reply = slack_broker.click("approve", grant_id, ALICE, secret="not-" + slack_broker.secret)
    assert reply.status_code == 401 and reply.json()["error"].startswith("BAD_SLACK_SIGNATURE:")
    leaked = slack_broker.secret in reply.text
    assert not leaked
    assert slack_broker.status(grant_id) == "pending" and assume_role_calls == []


def test_a_click_six_minutes_old_is_401_and_changes_nothing(slack_broker: SlackBroker) -> None:
    grant_id = slack_broker.pending_grant()
    reply = slack_broker.click("approve", grant_id, ALICE, timestamp=int(time.time()) - 360)
    assert reply.status_code == 401 and reply.json()["error_code"] == "STALE_SLACK_REQUEST"
    assert slack_broker.status(grant_id) == "pending"


def test_malformed_and_oversized_bodies_are_refused(slack_broker: SlackBroker) -> None:
    from tests.notify.test_slack_interactivity import _signed

    body = b"payload=not-json"
    stamped = _signed(slack_broker.secret, body, int(time.time()))
    assert slack_broker.client.post("/slack/interactivity", content=body, headers=stamped).status_code == 400
    huge = b"payload=" + b"x" * (64 * 1024)
    stamped = _signed(slack_broker.secret, huge, int(time.time()))
    reply = slack_broker.client.post("/slack/interactivity", content=huge, headers=stamped)
    assert reply.status_code == 413 and reply.json()["error_code"] == "PAYLOAD_TOO_LARGE"


def test_page_click_and_update_end_to_end(slack_broker: SlackBroker, bot_token: str) -> None:
    """The whole Slack round: page from a real grant, click Approve, close the page."""
    notifier = SlackNotifier(bot_token, base_url=slack_broker.slack.base_url)
    deps = slack_broker.broker.deps
    grant_id = slack_broker.pending_grant(reason="<!channel> please")
    with deps.store.unit_of_work() as uow:
        post = notifier.post_approval_request(APPROVALS, card_for(deps, uow.get_grant(grant_id)))
    blocks = slack_broker.slack.message(post.ts).blocks
    assert post.ok and any(b["text"] == {"type": "plain_text", "emoji": False,
                                         "text": "Reason, as the agent wrote it:\n&lt;!channel&gt; please"}
                           for b in blocks if b["type"] == "section" and "text" in b)
    headers, body = slack_broker.slack.signed_click(slack_broker.secret, "approve", grant_id, ALICE, APPROVALS, post.ts)
    assert "is now active" in _text(slack_broker.client.post("/slack/interactivity", content=body, headers=headers))
    with deps.store.unit_of_work() as uow:
        card = card_for(deps, uow.get_grant(grant_id), resolution="approved by alice")
    assert notifier.update_approval_message(APPROVALS, post.ts or "", card) is None
    assert slack_broker.slack.message(post.ts).action_ids() == []
    assert "approved by alice" in str(slack_broker.slack.message(post.ts).blocks)


def test_the_clicker_is_told_through_the_response_url(slack_broker: SlackBroker) -> None:
    """Slack ignores the HTTP reply to a button click; the ephemeral notice goes to response_url."""
    grant_id = slack_broker.pending_grant()
    slack_broker.click("approve", grant_id, ALICE)
    slack_broker.click("approve", grant_id, ALICE)
    texts = [body.get("text", "") for _, body in slack_broker.slack.responses]
    assert any("is now active" in t for t in texts) and any(t.startswith("ALREADY_RESOLVED:") for t in texts)
    assert all(body.get("response_type") == "ephemeral" and body.get("replace_original") in (False, "false")
               for _, body in slack_broker.slack.responses)


def test_replies_never_go_to_an_unlisted_host(slack_broker: SlackBroker) -> None:
    from cloud_broker.notify.slack_routes import _reply_allowed

    allowed = frozenset({"hooks.slack.com"})
    assert _reply_allowed("https://hooks.slack.com/actions/T0/1/x", allowed)
    assert not _reply_allowed("http://hooks.slack.com/actions/T0/1/x", allowed)
    assert not _reply_allowed("https://169.254.169.254/latest/meta-data", allowed)
    assert not _reply_allowed("https://hooks.slack.com.evil.example/x", allowed)


def test_a_slow_decision_is_answered_at_once_and_its_outcome_follows(
        slack_broker: SlackBroker, monkeypatch: pytest.MonkeyPatch) -> None:
    """Slack wants the reply within 3 s; a mint that takes longer must not turn into an error."""
    gate, real = threading.Event(), slack_routes.decide

    def held_up(broker: Any, action: Any) -> str:
        assert gate.wait(30)
        return real(broker, action)

    monkeypatch.setattr(slack_routes, "decide", held_up)
    monkeypatch.setattr(slack_routes, "REPLY_WITHIN_SECONDS", 0)
    grant_id = slack_broker.pending_grant()
    assert _text(slack_broker.click("approve", grant_id, ALICE)) == slack_routes.WORKING
    assert slack_broker.status(grant_id) == "pending" and slack_broker.slack.responses == []
    gate.set()
    told = threading.Event()
    for _ in range(300):
        if any("is now active" in body.get("text", "") for _, body in slack_broker.slack.responses):
            break
        told.wait(0.1)
    [(_, body)] = slack_broker.slack.responses
    assert "is now active" in body["text"] and body["response_type"] == "ephemeral"
    assert slack_broker.status(grant_id) == "active"


TWO_APPROVALS = {"approvers": ["alice", "carol"],
                 "approval_rules": [{"name": "writes", "actions": ["s3:PutObject"], "required_approvals": 2}]}


@pytest.mark.parametrize("slack_broker", [TWO_APPROVALS], indirect=True)
def test_the_clicker_reads_the_count_in_the_cards_words(slack_broker: SlackBroker) -> None:
    grant_id = slack_broker.pending_grant()
    text = _text(slack_broker.click("approve", grant_id, ALICE))
    deps = slack_broker.broker.deps
    with deps.store.unit_of_work() as uow:
        grant = uow.get_grant(grant_id)
    card_line = resolution_text(grant, GrantStatus.PENDING, required_approvals(deps, grant))
    assert card_line == "1 of 2 approvals (alice)"
    assert text == f"Your approval of grant {grant_id} is recorded: {card_line}."
    final = _text(slack_broker.click("approve", grant_id, SLACK_IDS["carol"]))
    assert final == f"Grant {grant_id} is now active — approved by alice, carol."
