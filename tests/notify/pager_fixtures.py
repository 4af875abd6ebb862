"""A real broker wired with the BrokerPager, a real HTTP receiver that checks signatures the
way a customer's would, and a recording Slack stand-in (the real Slack client is tested
against a fake Slack server elsewhere; here only what the pager does with its answers counts)."""

from __future__ import annotations

import dataclasses
import json
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from fastapi.testclient import TestClient

from cloud_broker.api.app import create_app
from cloud_broker.api.tokens import SIGNING_KEY_PURPOSE, TokenIssuer
from cloud_broker.config import hash_api_key, new_api_key, parse_config
from cloud_broker.families.aws.provider import AwsStsProvider
from cloud_broker.notify.cards import ApprovalCard
from cloud_broker.notify.dispatcher import Dispatcher
from cloud_broker.notify.pager import BrokerPager
from cloud_broker.notify.signing import verify
from cloud_broker.service.broker import Broker
from cloud_broker.service.deps import Deps
from cloud_broker.service.minting import MINT, MINT_INTENT
from cloud_broker.service.ports import Delivery
from cloud_broker.service.revocation import CLOUD_REVOKE
from cloud_broker.store.sql import SqlStore
from cloud_broker.vault import Vault
from tests.api.conftest import READ_REPORTS, Clock, config_yaml

if TYPE_CHECKING:
    from cloud_broker.notify.cards import BatchSummary

HOOK_ENV, CALLBACK_ENV = "OPS_HOOK_SECRET", "AGENT_CALLBACK_SECRET"
SLACK_CHANNEL = "C0APPROVALS"
WRITE_REPORTS = {"actions": ["s3:PutObject"], "resources": ["arn:aws:s3:::reports/*"]}
SOURCE_CONTEXT = {"channel_type": "slack", "channel_id": "C0TEAMCHAT", "thread_ts": "1718000000.000100"}


@dataclass
class Call:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """A customer's endpoint: verifies each signature with its own copy of the secret and
    answers 401 when it does not check out, 500 while told to fail, 200 otherwise."""

    def __init__(self, secrets: dict[str, str], now: Callable[[], datetime]) -> None:
        self.secrets = secrets  # path -> the secret this receiver believes in
        self.now = now
        self.fail_first = 0
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def on(self, path: str) -> list[Call]:
        return [c for c in self.calls if c.path == path]

    def _answer(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        if path == "/moved":
            return 302, b""
        ok = verify(self.secrets.get(path, ""), headers, body, self.now())
        with self._lock:
            self.calls.append(Call(path, headers, body, ok))
            failing = self.fail_first > 0
            self.fail_first -= failing
        if not ok:
            return 401, b"invalid signature"
        return (500, b"receiver is down") if failing else (200, b"ok")

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, reply = receiver._answer(self.path, dict(self.headers.items()), body)
                self.send_response(status)
                if status == 302:
                    self.send_header("Location", f"{receiver.url}/hook")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


@dataclass(frozen=True)
class FakePost:
    ok: bool
    channel_id: str
    channel_name: str | None = None
    ts: str | None = None
    permalink: str | None = None
    error: str | None = None
    raw_error: str | None = None
    bot_user_handle: str | None = None


@dataclass
class RecordingSlack:
    """Answers like SlackNotifier; ``post_error`` makes posting fail with that reason,
    ``reply_channel`` is the channel Slack says it posted in (a DM's, for a user id), and
    ``during_post`` runs while the post is in flight (an approver clicking the fresh card)."""

    post_error: str | None = None
    reply_channel: str | None = None
    during_post: Callable[[ApprovalCard], None] | None = None
    posts: list[tuple[str, ApprovalCard]] = field(default_factory=list)
    updates: list[tuple[str, str, ApprovalCard]] = field(default_factory=list)
    summaries: list[tuple[str, BatchSummary]] = field(default_factory=list)
    summary_updates: list[tuple[str, str, BatchSummary]] = field(default_factory=list)

    def channel_status(self, channel_id: str) -> dict[str, Any]:
        return {"ok": True, "channel": {"id": channel_id, "name": "cloud-approvals"}, "bot_user_handle": "broker-bot"}

    def post_approval_request(self, channel_id: str, card: ApprovalCard) -> FakePost:
        self.posts.append((channel_id, card))
        if self.post_error:
            return FakePost(False, channel_id, error=self.post_error, raw_error=self.post_error,
                            bot_user_handle="broker-bot")
        if self.during_post is not None:
            self.during_post(card)
        channel = self.reply_channel or channel_id
        ts = f"1718000000.{len(self.posts):06d}"
        return FakePost(True, channel, "cloud-approvals", ts, f"https://slack.example/archives/{channel}/p{ts}",
                        bot_user_handle="broker-bot")

    def update_approval_message(self, channel_id: str, ts: str, card: ApprovalCard) -> str | None:
        self.updates.append((channel_id, ts, card))
        return None

    def post_summary(self, channel_id: str, summary: BatchSummary) -> FakePost:
        self.summaries.append((channel_id, summary))
        if self.post_error:
            return FakePost(False, channel_id, error=self.post_error, raw_error=self.post_error)
        ts = f"1718000001.{len(self.summaries):06d}"
        return FakePost(True, channel_id, "cloud-approvals", ts, f"https://slack.example/archives/{channel_id}/p{ts}")

    def update_summary(self, channel_id: str, ts: str, summary: BatchSummary) -> str | None:
        self.summary_updates.append((channel_id, ts, summary))
        return None


@dataclass
class NotifyBroker:
    client: TestClient
    broker: Broker
    tokens: TokenIssuer
    clock: Clock
    agent_id: str
    secrets: dict[str, str]
    receiver: Receiver
    slack: Any  # the Setup's: a RecordingSlack, a SlackNotifier on the fake Slack, or None

    @property
    def deps(self) -> Deps:
        return self.broker.deps

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens.issue('host-a')}"}

    def request(self, run_id: str | None = None, **overrides: Any) -> dict[str, Any]:
        body = {**READ_REPORTS, **WRITE_REPORTS, "agent_id": self.agent_id, "run_id": run_id or str(uuid.uuid4()),
                "source_context": SOURCE_CONTEXT, **overrides}
        reply = self.client.post("/aws/grants", json=body, headers=self.headers())
        assert reply.status_code == 200, reply.text
        return reply.json()

    def dispatcher(self, **kwargs: Any) -> Dispatcher:
        return Dispatcher(self.deps, slack=self.slack, secrets=self.secrets, **kwargs)

    def deliveries(self, grant_id: str | None = None, kind: str | None = None) -> list[Delivery]:
        """The message jobs (the broker's own mints and cloud revocations are left out)."""
        with self.deps.store.unit_of_work() as uow:
            rows = uow.list_deliveries(grant_id=grant_id)
        return [r for r in rows if r.kind not in (MINT, MINT_INTENT, CLOUD_REVOKE) and (kind is None or r.kind == kind)]

    def advance(self, seconds: float) -> None:
        self.clock.offset += timedelta(seconds=seconds)


@dataclass(frozen=True)
class Setup:
    """What to wire: which channels the ceiling pages, which secrets the broker holds."""

    webhook: bool = True
    slack_channel: bool = False
    # Usually a RecordingSlack; a SlackNotifier on the fake Slack server works too.
    slack: Any = None
    callback: bool = True
    broker_secrets: tuple[str, ...] = (HOOK_ENV, CALLBACK_ENV)
    hook_path: str = "/hook"
    two_approvals: bool = False
    approval_channel: bool = True
    # Merged into broker.yaml's ``broker:`` section.
    broker: dict[str, Any] = field(default_factory=dict)
    # Applied last to the raw broker.yaml (after the channels are wired).
    edit: Callable[[dict[str, Any]], None] | None = None


def _edit(raw: dict[str, Any], setup: Setup, receiver_url: str, agent_id: str) -> None:
    ceiling = raw["ceilings"][0]
    ceiling["approvers"] = ["alice", "bob", "carol"]
    if setup.two_approvals:
        ceiling["approval_rules"] = [{"name": "writes", "actions": ["s3:PutObject"], "required_approvals": 2}]
    notifications: dict[str, Any] = {"webhooks": [
        {"name": "ops-hook", "url": f"{receiver_url}{setup.hook_path}", "secret_env": HOOK_ENV}]}
    channel: dict[str, Any] = {}
    if setup.webhook:
        channel["webhooks"] = ["ops-hook"]
    if setup.slack_channel:
        notifications["slack"] = {}
        channel["slack_channel"] = SLACK_CHANNEL
    raw["notifications"] = notifications
    if setup.approval_channel:
        ceiling["approval_channel"] = channel
    if setup.callback:
        agent = next(a for a in raw["agents"] if a["id"] == agent_id)
        agent["callback"] = {"url": f"{receiver_url}/callback", "secret_env": CALLBACK_ENV}
    if setup.broker:
        raw["broker"] = {**raw.get("broker", {}), **setup.broker}
    if setup.edit is not None:
        setup.edit(raw)


def notify_broker(emulator: Any, tmp_path: Path, setup: Setup = Setup(),
                  store_url: str | None = None) -> Iterator[NotifyBroker]:
    import boto3  # type: ignore[import-untyped]

    clock = Clock()
    secrets = {HOOK_ENV: "whsec-" + os.urandom(16).hex(), CALLBACK_ENV: "cbsec-" + os.urandom(16).hex()}
    with Receiver({"/hook": secrets[HOOK_ENV], "/callback": secrets[CALLBACK_ENV]}, clock) as receiver:
        host_key = new_api_key()
        agents = {k: str(uuid.uuid4()) for k in ("agent", "other", "foreign")}
        raw = config_yaml(emulator.role_arn, hash_api_key(host_key), agents)
        _edit(raw, setup, receiver.url, agents["agent"])
        session = boto3.Session(aws_access_key_id=emulator.source_access_key_id,
                                aws_secret_access_key=emulator.source_secret_access_key, region_name="us-east-1")
        vault = Vault(os.urandom(32))
        bare = Deps(config=parse_config(raw), store=SqlStore.open(store_url or f"sqlite:///{tmp_path / 'broker.db'}"),
                    providers={"aws": AwsStsProvider(session, endpoint_url=emulator.endpoint_url)},
                    vault=vault, clock=clock)
        held = {k: v for k, v in secrets.items() if k in setup.broker_secrets}
        deps = dataclasses.replace(bare, pager=BrokerPager(bare, slack=setup.slack, secrets=held))
        broker = Broker(deps)
        tokens = TokenIssuer(vault.derive_key(SIGNING_KEY_PURPOSE))
        with TestClient(create_app(broker, tokens), raise_server_exceptions=False) as client:
            yield NotifyBroker(client, broker, tokens, clock, agents["agent"], held, receiver, setup.slack)
