"""The fake Slack itself: the encodings and authentication other tests (and the e2e) rely on."""

from __future__ import annotations

import json

import httpx

from tests.fakes.fake_slack import FakeSlack
from tests.notify.conftest import APPROVALS


def test_form_encoded_post_with_the_token_as_a_parameter(slack: FakeSlack, bot_token: str) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}]
    reply = httpx.post(slack.base_url + "chat.postMessage",
                       data={"token": bot_token, "channel": APPROVALS, "text": "hi", "blocks": json.dumps(blocks)}).json()
    assert reply["ok"] and slack.message(reply["ts"]).blocks == blocks
    assert all("token" not in params for _, params in slack.calls)


def test_missing_and_wrong_tokens_are_refused_as_slack_does(slack: FakeSlack, bot_token: str) -> None:
    assert httpx.post(slack.base_url + "auth.test").json() == {"ok": False, "error": "not_authed"}
    wrong = httpx.post(slack.base_url + "auth.test", headers={"Authorization": "Bearer " + bot_token + "x"})
    assert wrong.json() == {"ok": False, "error": "invalid_auth"}
    unknown = httpx.post(slack.base_url + "chat.delete", headers={"Authorization": "Bearer " + bot_token})
    assert unknown.json() == {"ok": False, "error": "unknown_method"}


def test_response_url_posts_are_recorded(slack: FakeSlack, signing_secret: str) -> None:
    _, body = slack.signed_click(signing_secret, "approve", "g", "U0ALICE", APPROVALS, "1.1")
    response_url = json.loads(httpx.QueryParams(body.decode())["payload"])["response_url"]
    assert response_url.startswith(slack.base_url.replace("/api/", "/actions/"))
    httpx.post(response_url, json={"text": "done", "response_type": "ephemeral"})
    assert slack.responses[-1][1] == {"text": "done", "response_type": "ephemeral"}
