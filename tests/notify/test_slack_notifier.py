"""SlackNotifier through the real slack_sdk, over HTTP, against the fake Slack."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Callable

import pytest

from cloud_broker.notify.cards import ApprovalCard
from cloud_broker.notify.slack import SlackNotifier
from cloud_broker.notify.slack_blocks import escape
from tests.fakes.fake_slack import BOT_HANDLE, FakeSlack
from tests.notify.conftest import APPROVALS

CardFactory = Callable[..., ApprovalCard]
HOSTILE = "<!channel> <https://evil.example|x> & <@U0BOSS>"


def _rendered(slack: FakeSlack) -> str:
    message = slack.messages[-1]
    return message.text + json.dumps(message.blocks, ensure_ascii=False)


def _texts(slack: FakeSlack, kind: str) -> list[str]:
    """Every text object of ``kind`` in the last message."""
    texts: list[str] = []
    for block in slack.messages[-1].blocks:
        for part in [block.get("text"), *block.get("fields", []), *block.get("elements", [])]:
            if isinstance(part, dict) and part.get("type") == kind:
                texts.append(part["text"])
    return texts


def _mrkdwn(slack: FakeSlack) -> list[str]:
    """Every mrkdwn string of the last message, where Slack would parse mentions and links."""
    return _texts(slack, "mrkdwn")


def _plain(slack: FakeSlack) -> list[str]:
    """Every plain_text string of the last message: shown as written, never parsed."""
    return _texts(slack, "plain_text")


def test_channel_status_ok_names_the_channel_and_the_bot(notifier: SlackNotifier) -> None:
    assert notifier.channel_status(APPROVALS) == {
        "ok": True, "bot_user_handle": BOT_HANDLE,
        "channel": {"id": APPROVALS, "name": "approvals", "is_archived": False, "is_member": True},
    }


def test_channel_status_reasons_follow_the_contract(notifier: SlackNotifier, slack: FakeSlack) -> None:
    slack.add_channel("C0OLD", "old-approvals", archived=True)
    slack.add_channel("C0PUBLIC", "public", member=False)
    slack.add_channel("C0SECRET", "secret", member=False, private=True)
    archived = notifier.channel_status("C0OLD")
    assert (archived["ok"], archived["reason"], archived["channel"]["is_archived"]) == (False, "archived", True)
    outside = notifier.channel_status("C0PUBLIC")
    assert (outside["reason"], outside["bot_user_handle"]) == ("not_in_channel", BOT_HANDLE)
    for missing in ("C0NOSUCH", "C0SECRET"):
        status = notifier.channel_status(missing)
        assert status == {"ok": False, "reason": "channel_not_found", "raw_error": "channel_not_found",
                          "bot_user_handle": BOT_HANDLE}


def test_channel_status_with_a_wrong_token_is_auth_failed(slack: FakeSlack) -> None:
    status = SlackNotifier("xoxb-" + "wrong", base_url=slack.base_url).channel_status(APPROVALS)
    assert status == {"ok": False, "reason": "auth_failed", "raw_error": "invalid_auth"}


def test_other_slack_errors_are_unknown_with_the_raw_error(notifier: SlackNotifier, slack: FakeSlack) -> None:
    slack.fail("conversations.info", "ratelimited")
    status = notifier.channel_status(APPROVALS)
    assert (status["reason"], status["raw_error"]) == ("unknown", "ratelimited")


def test_unreachable_slack_is_unknown_not_an_exception(bot_token: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    notifier = SlackNotifier(bot_token, base_url=f"http://127.0.0.1:{port}/api/", timeout=1)
    status = notifier.channel_status(APPROVALS)
    assert status["reason"] == "unknown" and status["raw_error"].startswith("request_failed:")
    assert notifier.post_approval_request(APPROVALS, _card_stub()).error == "unknown"


def test_bot_identity_is_asked_once(notifier: SlackNotifier, slack: FakeSlack) -> None:
    notifier.channel_status(APPROVALS)
    notifier.channel_status(APPROVALS)
    assert len(slack.calls_to("auth.test")) == 1 and len(slack.calls_to("conversations.info")) == 2


def test_post_returns_ts_permalink_and_channel_name(notifier: SlackNotifier, slack: FakeSlack,
                                                   make_card: CardFactory) -> None:
    post = notifier.post_approval_request(APPROVALS, make_card())
    assert post.ok and post.error is None and post.ts == slack.messages[0].ts
    assert (post.channel_id, post.channel_name, post.bot_user_handle) == (APPROVALS, "approvals", BOT_HANDLE)
    assert post.permalink == f"https://fake-slack.example/archives/{APPROVALS}/p{post.ts.replace('.', '')}"


def test_buttons_carry_the_grant_id(notifier: SlackNotifier, slack: FakeSlack, make_card: CardFactory) -> None:
    card = make_card()
    notifier.post_approval_request(APPROVALS, card)
    [decision] = [b for b in slack.messages[0].blocks if b["type"] == "actions"]
    assert [(e["action_id"], e["style"], e["value"]) for e in decision["elements"]] == [
        ("cloud_broker_approve", "primary", card.grant_id), ("cloud_broker_deny", "danger", card.grant_id)]


def test_message_shows_who_what_where_and_the_risk(notifier: SlackNotifier, slack: FakeSlack,
                                                   make_card: CardFactory) -> None:
    card = make_card(actions=("s3:*", "iam:CreateAccessKey"), resources=("*",), approvals=("bob",),
                     required_approvals=2)
    notifier.post_approval_request(APPROVALS, card)
    text = _rendered(slack)
    for expected in ("a1", "data", "Sandbox", "`123456789012`", "us-east-1", "15 min", "kanban:task-42",
                     "upload the nightly report", "1 of 2 (bob)", "`iam:CreateAccessKey` — Permissions management",
                     "highest access level: Permissions management", "wildcard actions: `s3:*`",
                     "wildcard resources: 1 (listed below)", "Wildcard resources\\n• *",
                     "sensitive services: iam (identity and access management)",
                     "<https://broker.example/console/grants/x|Open in the console>", card.grant_id):
        assert expected in text, expected
    assert "expands to" in text and ":warning:" in text


def test_agent_written_text_cannot_ping_or_link(notifier: SlackNotifier, slack: FakeSlack,
                                                make_card: CardFactory) -> None:
    card = make_card(reason=HOSTILE, task_id="<!here>", resources=("arn:aws:s3:::b/<!everyone>",),
                     console_url=None)
    notifier.post_approval_request(APPROVALS, card)
    texts = [*_mrkdwn(slack), slack.messages[0].text]
    assert not any("<" in t or ">" in t for t in texts), texts
    assert all(part.get("verbatim") is True for block in slack.messages[0].blocks
               for part in [block.get("text"), *block.get("fields", []), *block.get("elements", [])]
               if isinstance(part, dict) and part.get("type") == "mrkdwn")
    # The agent's words reach the approver in elements Slack never parses, entity-encoded as
    # Slack asks of all text (it decodes them for display).
    plain = "\n".join(_plain(slack))
    assert not any("<" in t or ">" in t for t in _plain(slack))
    assert escape(HOSTILE) in plain and "Task: &lt;!here&gt;" in plain and "• arn:aws:s3:::b/&lt;!everyone&gt;" in plain


def test_agent_written_text_cannot_format_or_fake_a_risk_line(notifier: SlackNotifier, slack: FakeSlack,
                                                              make_card: CardFactory) -> None:
    fake = "all fine\n\n*Risk:* none :white_check_mark: see https://evil.example/approve and #general _now_"
    card = make_card(reason=fake, task_id="*urgent* https://evil.example", resources=("arn:aws:s3:::b/*x*`#y`",))
    notifier.post_approval_request(APPROVALS, card)
    mrkdwn = _mrkdwn(slack)
    for agent_text in ("all fine", "evil.example", "#general", "*urgent*", "*x*", "#y", ":white_check_mark:"):
        assert not any(agent_text in t for t in mrkdwn), agent_text
    [risk] = [t for t in mrkdwn if "*Risk:*" in t]
    assert risk.startswith(":warning: *Risk:* highest access level: Write")
    emoji_flags = [part.get("emoji") for block in slack.messages[0].blocks
                   for part in [block.get("text"), *block.get("fields", [])]
                   if isinstance(part, dict) and part.get("type") == "plain_text"]
    assert emoji_flags and all(flag is False for flag in emoji_flags)
    plain = "\n".join(_plain(slack))
    assert f"Reason, as the agent wrote it:\n{fake}" in plain and "Task: *urgent* https://evil.example" in plain
    assert "arn:aws:s3:::b/*x*`#y`" in plain


def test_long_lists_and_text_stay_within_block_limits(notifier: SlackNotifier, slack: FakeSlack,
                                                      make_card: CardFactory) -> None:
    resources = tuple(f"arn:aws:s3:::bucket-{i}/*" for i in range(30))
    card = make_card(resources=resources, reason="&" * 5000, actions=tuple(f"s3:Get{n}*" for n in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    post = notifier.post_approval_request(APPROVALS, card)
    assert post.ok
    blocks = slack.messages[0].blocks
    assert len(blocks) <= 50 and blocks[-1]["type"] == "actions"
    assert all(len(t) <= 3000 for t in [*_mrkdwn(slack), *_plain(slack)])
    text = _rendered(slack)
    assert "bucket-19/" in text and "bucket-20/" not in text and "…and 10 more" in text and "…and 6 more" in text


def test_post_failures_carry_reason_raw_error_and_the_handle_to_invite(notifier: SlackNotifier, slack: FakeSlack,
                                                                       make_card: CardFactory) -> None:
    slack.add_channel("C0OLD", "old", archived=True)
    slack.add_channel("C0PUBLIC", "public", member=False)
    outcomes = {c: notifier.post_approval_request(c, make_card()) for c in ("C0OLD", "C0PUBLIC", "C0NOSUCH")}
    assert {c: (p.ok, p.error, p.raw_error) for c, p in outcomes.items()} == {
        "C0OLD": (False, "archived", "is_archived"), "C0PUBLIC": (False, "not_in_channel", "not_in_channel"),
        "C0NOSUCH": (False, "channel_not_found", "channel_not_found")}
    assert outcomes["C0PUBLIC"].bot_user_handle == BOT_HANDLE and slack.messages == []


def test_post_with_a_wrong_token_is_auth_failed(slack: FakeSlack, make_card: CardFactory) -> None:
    post = SlackNotifier("xoxb-" + "wrong", base_url=slack.base_url).post_approval_request(APPROVALS, make_card())
    assert (post.ok, post.error, post.raw_error, post.ts) == (False, "auth_failed", "invalid_auth", None)


def test_update_replaces_the_buttons_with_the_outcome(notifier: SlackNotifier, slack: FakeSlack,
                                                      make_card: CardFactory) -> None:
    card = make_card()
    post = notifier.post_approval_request(APPROVALS, card)
    assert slack.message(post.ts).action_ids() == ["cloud_broker_approve", "cloud_broker_deny"]
    resolved = make_card(grant_id=card.grant_id, status="denied", resolution="denied by bob: " + HOSTILE)
    assert notifier.update_approval_message(APPROVALS, post.ts or "", resolved) is None
    message = slack.message(post.ts)
    assert message.action_ids() == [] and len(message.updates) == 1
    outcome = _mrkdwn(slack)[-1]
    assert outcome.startswith(":no_entry: *Outcome:* denied by bob: &lt;!channel&gt;") and "<" not in outcome


def test_update_without_a_resolution_shows_the_status(notifier: SlackNotifier, slack: FakeSlack,
                                                      make_card: CardFactory) -> None:
    post = notifier.post_approval_request(APPROVALS, make_card())
    assert notifier.update_approval_message(APPROVALS, post.ts or "", make_card(status="expired")) is None
    assert any("*Outcome:* expired" in t for t in _mrkdwn(slack))


def test_update_of_an_unknown_message_returns_slacks_error(notifier: SlackNotifier, make_card: CardFactory) -> None:
    assert notifier.update_approval_message(APPROVALS, "1.000001", make_card()) == "message_not_found"


def test_the_token_never_reaches_logs_or_results(slack: FakeSlack, bot_token: str, make_card: CardFactory,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    notifier = SlackNotifier(bot_token, base_url=slack.base_url)
    results = [notifier.channel_status(APPROVALS), notifier.post_approval_request(APPROVALS, make_card()),
               notifier.post_approval_request("C0NOSUCH", make_card())]
    wrong = SlackNotifier(bot_token + "x", base_url=slack.base_url)
    results += [wrong.channel_status(APPROVALS), wrong.post_approval_request(APPROVALS, make_card())]
    leaks = [i for i, shown in enumerate((caplog.text, repr(results), repr(notifier), repr(slack.calls)))
             if bot_token in shown]
    assert leaks == []  # indexes only: a failure must not print the token either
    assert not [r for r in caplog.records if r.name.startswith("slack_sdk") and r.levelno < logging.WARNING]


def _card_stub() -> ApprovalCard:
    from cloud_broker.families.aws import family
    from cloud_broker.policy.risk import RiskSummary
    from cloud_broker.service.family import Target

    return ApprovalCard(grant_id="g", status="pending", team="t",
                        target=Target("aws", "AWS account", "account_id", "123456789012", "n"),
                        agent_id="a", agent_name="a", run_id="r",
                        scope={"actions": ("s3:GetObject",), "resources": ("*",), "regions": ("us-east-1",)},
                        fields=family.scope_fields, ttl_seconds=300, risk=RiskSummary(actions=()),
                        required_approvals=1, approvals=())
