"""A local stand-in for the Slack Web API, reached over real HTTP by the real ``slack_sdk``.

Usage::

    with run_fake_slack(token) as slack:
        slack.add_channel("C0APPROVE", "approvals")               # bot is a member
        slack.add_channel("C0OLD", "old", archived=True)
        notifier = SlackNotifier(token, base_url=slack.base_url)  # base_url ends in /api/
        post = notifier.post_approval_request("C0APPROVE", card)
        message = slack.message(post.ts)                          # .channel .ts .text .blocks .updates
        headers, body = slack.signed_click(secret, "approve", grant_id, "U0ALICE", "C0APPROVE", post.ts)
        client.post("/slack/interactivity", content=body, headers=headers)

Served methods: ``auth.test``, ``conversations.info``, ``chat.postMessage``, ``chat.update``,
``chat.getPermalink``; parameters are read from the query string, a form body or a JSON body,
as slack_sdk sends them. Authentication is ``Authorization: Bearer <token>`` (or a ``token``
parameter); a wrong one answers ``invalid_auth``, none answers ``not_authed``. Errors follow
Slack: ``channel_not_found`` (unknown channel, or a private one the bot is not in),
``not_in_channel``, ``is_archived``, ``message_not_found``. ``fail(method, error)`` forces an
error for one method until ``fail(method, None)``. Every call is recorded in ``calls``
(method and parameters, never the token); any POST outside ``/api/`` is recorded in
``responses`` as a ``response_url`` post.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

BOT_USER_ID = "U0BROKERBOT"
BOT_HANDLE = "cloud-broker"
TEAM_ID = "T0FAKETEAM"
ACTION_IDS = {"approve": "cloud_broker_approve", "deny": "cloud_broker_deny"}


@dataclass
class FakeChannel:
    id: str
    name: str
    is_archived: bool = False
    is_member: bool = True
    is_private: bool = False

    def info(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "is_channel": not self.is_private, "is_group": False,
                "is_im": False, "is_private": self.is_private, "is_archived": self.is_archived,
                "is_member": self.is_member, "name_normalized": self.name}


@dataclass
class FakeMessage:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    # Each chat.update, oldest first: {"text": ..., "blocks": ...}.
    updates: list[dict[str, Any]] = field(default_factory=list)

    def action_ids(self) -> list[str]:
        """The interactive elements still on the message (empty once the buttons are gone)."""
        return [e.get("action_id", "") for b in self.blocks if b.get("type") == "actions" for e in b.get("elements", [])]


class FakeSlack:
    """The state behind the server; test code reads and arranges it directly."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.base_url = ""  # set once the server listens
        self.channels: dict[str, FakeChannel] = {}
        self.messages: list[FakeMessage] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.responses: list[tuple[str, Any]] = []
        self.failures: dict[str, str] = {}
        self._lock = threading.Lock()
        self._seq = itertools.count(1)

    def add_channel(self, id: str, name: str, *, archived: bool = False, member: bool = True,
                    private: bool = False) -> FakeChannel:
        channel = FakeChannel(id, name, is_archived=archived, is_member=member, is_private=private)
        with self._lock:
            self.channels[id] = channel
        return channel

    def fail(self, method: str, error: str | None) -> None:
        """Make ``method`` answer ``{"ok": false, "error": error}``; None restores it."""
        with self._lock:
            if error is None:
                self.failures.pop(method, None)
            else:
                self.failures[method] = error

    def message(self, ts: str | None) -> FakeMessage:
        return next(m for m in self.messages if m.ts == ts)

    def calls_to(self, method: str) -> list[dict[str, Any]]:
        return [params for name, params in self.calls if name == method]

    def signed_click(self, signing_secret: str, action: str, grant_id: str, user_id: str, channel: str,
                     ts: str | None, timestamp: int | None = None) -> tuple[dict[str, str], bytes]:
        """A button click as Slack would deliver it, with a ``response_url`` on this server."""
        return signed_click(signing_secret, action, grant_id, user_id, channel, ts, timestamp,
                            response_url=self.base_url.replace("/api/", "/actions/") + f"T0/{next(self._seq)}")

    # Called by the HTTP handler thread; takes the lock itself.
    def handle(self, method: str, auth: str | None, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.calls.append((method, {k: v for k, v in params.items() if k != "token"}))
            supplied = auth or params.get("token")
            if not supplied:
                return {"ok": False, "error": "not_authed"}
            if not hmac.compare_digest(str(supplied).encode(), self.token.encode()):
                return {"ok": False, "error": "invalid_auth"}
            if method in self.failures:
                return {"ok": False, "error": self.failures[method]}
            handler = _METHODS.get(method)
            return handler(self, params) if handler else {"ok": False, "error": "unknown_method"}

    def _auth_test(self, _: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": "https://fake-slack.example/", "team": "Fake", "user": BOT_HANDLE,
                "team_id": TEAM_ID, "user_id": BOT_USER_ID, "bot_id": "B0BROKERBOT", "is_enterprise_install": False}

    def _visible(self, channel_id: Any) -> FakeChannel | None:
        """Slack hides a private channel from a bot that is not in it."""
        channel = self.channels.get(str(channel_id))
        return None if channel is None or (channel.is_private and not channel.is_member) else channel

    def _conversations_info(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._visible(params.get("channel"))
        return {"ok": True, "channel": channel.info()} if channel else {"ok": False, "error": "channel_not_found"}

    def _post_message(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._visible(params.get("channel"))
        refusal = self._refuse_posting(channel)
        if refusal or channel is None:
            return {"ok": False, "error": refusal or "channel_not_found"}
        message = FakeMessage(channel.id, f"{int(time.time())}.{next(self._seq):06d}", str(params.get("text") or ""),
                              _blocks(params.get("blocks")))
        self.messages.append(message)
        return {"ok": True, "channel": channel.id, "ts": message.ts,
                "message": {"type": "message", "text": message.text, "blocks": message.blocks, "ts": message.ts,
                            "user": BOT_USER_ID, "bot_id": "B0BROKERBOT"}}

    def _update(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._visible(params.get("channel"))
        refusal = self._refuse_posting(channel)
        if refusal or channel is None:
            return {"ok": False, "error": refusal or "channel_not_found"}
        found = [m for m in self.messages if m.channel == channel.id and m.ts == params.get("ts")]
        if not found:
            return {"ok": False, "error": "message_not_found"}
        message = found[0]
        message.text, message.blocks = str(params.get("text") or ""), _blocks(params.get("blocks"))
        message.updates.append({"text": message.text, "blocks": message.blocks})
        return {"ok": True, "channel": channel.id, "ts": message.ts, "text": message.text}

    def _permalink(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._visible(params.get("channel"))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        ts = str(params.get("message_ts") or "")
        if not any(m.channel == channel.id and m.ts == ts for m in self.messages):
            return {"ok": False, "error": "message_not_found"}
        return {"ok": True, "channel": channel.id,
                "permalink": f"https://fake-slack.example/archives/{channel.id}/p{ts.replace('.', '')}"}

    @staticmethod
    def _refuse_posting(channel: FakeChannel | None) -> str | None:
        if channel is None:
            return "channel_not_found"
        if channel.is_archived:
            return "is_archived"
        return None if channel.is_member else "not_in_channel"


_METHODS = {
    "auth.test": FakeSlack._auth_test,
    "conversations.info": FakeSlack._conversations_info,
    "chat.postMessage": FakeSlack._post_message,
    "chat.update": FakeSlack._update,
    "chat.getPermalink": FakeSlack._permalink,
}


def _blocks(value: Any) -> list[dict[str, Any]]:
    """Blocks arrive as a list in JSON bodies and as a JSON string in form bodies."""
    if isinstance(value, str):
        value = json.loads(value)
    return list(value or [])


def signed_click(signing_secret: str, action: str, grant_id: str, user_id: str, channel: str, ts: str | None,
                 timestamp: int | None = None, *, response_url: str | None = None) -> tuple[dict[str, str], bytes]:
    """Headers and body of a ``block_actions`` request, signed as Slack signs it:
    ``v0=hex(HMAC-SHA256(secret, "v0:{timestamp}:{body}"))``. ``action`` is "approve" or
    "deny" (or any raw action_id); ``timestamp`` defaults to now."""
    stamp = int(time.time()) if timestamp is None else timestamp
    payload = {
        "type": "block_actions",
        "user": {"id": user_id, "username": user_id.lower(), "team_id": TEAM_ID},
        "api_app_id": "A0BROKERAPP",
        "container": {"type": "message", "message_ts": ts, "channel_id": channel, "is_ephemeral": False},
        "trigger_id": "1.2.3",
        "team": {"id": TEAM_ID, "domain": "fake"},
        "channel": {"id": channel, "name": "approvals"},
        "message": {"type": "message", "ts": ts, "user": BOT_USER_ID},
        "response_url": response_url or "https://hooks.fake-slack.example/actions/T0/1",
        "actions": [{"type": "button", "block_id": "cloud_broker_decision", "value": grant_id,
                     "action_id": ACTION_IDS.get(action, action), "action_ts": f"{stamp}.000001",
                     "text": {"type": "plain_text", "text": action.title()}}],
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    digest = hmac.new(signing_secret.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": str(stamp),
               "X-Slack-Signature": f"v0={digest}"}
    return headers, body


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self._answer(b"")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._answer(self.rfile.read(length))

    def _answer(self, body: bytes) -> None:
        url = urlsplit(self.path)
        fake = self.server.fake
        if not url.path.startswith("/api/"):
            with fake._lock:
                fake.responses.append((url.path, _decode(self.headers.get("Content-Type", ""), body)))
            return self._send({"ok": True})
        params = dict(parse_qsl(url.query))
        decoded = _decode(self.headers.get("Content-Type", ""), body)
        params.update(decoded if isinstance(decoded, dict) else {})
        auth = self.headers.get("Authorization", "")
        bearer = auth[len("Bearer "):] if auth.startswith("Bearer ") else None
        self._send(fake.handle(url.path[len("/api/"):], bearer, params))

    def _send(self, reply: dict[str, Any]) -> None:
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: test output stays clean, and nothing request-shaped is echoed."""


def _decode(content_type: str, body: bytes) -> Any:
    if not body:
        return {}
    if content_type.startswith("application/json"):
        return json.loads(body)
    return dict(parse_qsl(body.decode("utf-8")))


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: FakeSlack) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fake = fake


@contextmanager
def run_fake_slack(token: str) -> Iterator[FakeSlack]:
    """Serve a fresh fake workspace on 127.0.0.1 (a free port) for the ``with`` block."""
    fake = FakeSlack(token)
    server = _Server(fake)
    fake.base_url = f"http://127.0.0.1:{server.server_address[1]}/api/"
    thread = threading.Thread(target=server.serve_forever, name="fake-slack", daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        # shutdown() waits for serve_forever's loop without a limit; a test must not hang on it.
        stopper = threading.Thread(target=server.shutdown, daemon=True)
        stopper.start()
        stopper.join(10)
        server.server_close()
        thread.join(10)
