"""Human approval across real processes: ``cloud-broker serve`` with Slack and a webhook,
``cloud-broker mcp`` over stdio as the agent's runtime, the AWS emulator, a local server
speaking the Slack Web API (``tests.fakes.fake_slack``) and a local webhook receiver that
checks signatures as a customer's endpoint would.

Flow: a write request routes to approvers → the Slack approval card is posted → a click on
Approve, signed as Slack signs it, reaches the broker → the webhook and the agent callback
arrive signed, the MCP client gets ``notifications/resources/updated`` for ``grant://<id>``
and a log message → ``aws_get_credentials`` works and the credentials work in the emulator.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx
import pytest
import yaml

from cloud_broker.cli.agent_session import agent_session
from cloud_broker.cli.aws_cli import run_aws
from cloud_broker.cli.sandbox import write_aws_profile
from cloud_broker.cli.sandbox_process import child_env
from cloud_broker.config import hash_api_key, new_api_key
from tests.fakes.fake_slack import FakeSlack, run_fake_slack
from tests.notify.pager_fixtures import Receiver

pytestmark = pytest.mark.e2e

CHANNEL = "C0APPROVALS"
SOURCE = {"channel_type": "slack", "channel_id": "C0TEAMCHAT", "thread_ts": "1718000000.000100"}
WAIT = 30.0


def _secret(label: str) -> str:
    return f"{label}-" + uuid.uuid4().hex


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for(check: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Setup:
    def __init__(self, tmp: Path, emulator: Any, slack: FakeSlack, receiver: Receiver, secrets: dict[str, str]) -> None:
        self.state = tmp / "state"
        self.state.mkdir()
        write_aws_profile(self.state, emulator)
        self.host_key, self.agent_id, self.run_id = new_api_key(), str(uuid.uuid4()), str(uuid.uuid4())
        self.port = _free_port()
        self.api = f"http://127.0.0.1:{self.port}"
        self.secrets = secrets
        self.endpoint_url = emulator.endpoint_url
        self.config = self.state / "broker.yaml"
        self.config.write_text(yaml.safe_dump(self._yaml(emulator, slack, receiver)))

    def _yaml(self, emulator: Any, slack: FakeSlack, receiver: Receiver) -> dict[str, Any]:
        return {
            "broker": {"public_url": self.api},
            "approvers": [{"name": "alice", "slack_user_id": "U0ALICE"}],
            "notifications": {
                "slack": {"bot_token_env": "E2E_SLACK_TOKEN", "signing_secret_env": "E2E_SLACK_SIGNING",
                          "api_base_url": slack.base_url},
                "webhooks": [{"name": "oncall", "url": f"{receiver.url}/hook", "secret_env": "E2E_HOOK_SECRET"}],
            },
            "teams": [{"name": "data"}],
            "hosts": [{"name": "runner", "team": "data", "api_keys": [hash_api_key(self.host_key)]}],
            "agents": [{"id": self.agent_id, "name": "report-writer", "team": "data", "host": "runner",
                        "callback": {"url": f"{receiver.url}/callback", "secret_env": "E2E_CALLBACK_SECRET"}}],
            "aws_accounts": [{"account_id": emulator.account_id, "display_name": "Emulated", "role_arn": emulator.role_arn,
                              "default_region": emulator.region, "allowed_regions": [emulator.region]}],
            "ceilings": [{
                "team": "data", "account_id": emulator.account_id, "max_ttl_seconds": 3600,
                "allowed_regions": [emulator.region], "approvers": ["alice"],
                "auto_approve": [{"name": "read-reports", "actions": ["s3:GetObject"],
                                  "resources": ["arn:aws:s3:::reports/*"]}],
                "approval_channel": {"slack_channel": CHANNEL, "webhooks": ["oncall"]},
            }],
        }

    def mcp_env(self) -> dict[str, str]:
        return {"AGT_HOST": self.api, "AGT_API_KEY": self.host_key, "AGT_AGENT_ID": self.agent_id,
                "AGT_RUN_ID": self.run_id}


@pytest.fixture
def world(emulator: Any, tmp_path: Path) -> Iterator[tuple[Setup, FakeSlack, Receiver, subprocess.Popen[bytes]]]:
    secrets = {name: _secret(name.lower()) for name in
               ("E2E_SLACK_TOKEN", "E2E_SLACK_SIGNING", "E2E_HOOK_SECRET", "E2E_CALLBACK_SECRET")}
    receiver_secrets = {"/hook": secrets["E2E_HOOK_SECRET"], "/callback": secrets["E2E_CALLBACK_SECRET"]}
    with run_fake_slack(secrets["E2E_SLACK_TOKEN"]) as slack, \
            Receiver(receiver_secrets, lambda: datetime.now(UTC)) as receiver:
        slack.add_channel(CHANNEL, "aws-approvals")
        setup = Setup(tmp_path, emulator, slack, receiver, secrets)
        log = (tmp_path / "broker.log").open("wb")
        command = [sys.executable, "-m", "cloud_broker", "serve", "--state-dir", str(setup.state),
                   "--port", str(setup.port)]
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=child_env(**secrets))
        try:
            _wait_for(lambda: _healthy(setup.api, server), "the broker to start")
            yield setup, slack, receiver, server
        finally:
            server.terminate()
            server.wait(10)
            log.close()
        _assert_no_secret_in(tmp_path / "broker.log", secrets.values())


def _healthy(api: str, server: subprocess.Popen[bytes]) -> bool:
    if server.poll() is not None:
        raise AssertionError("the broker exited during start-up")
    try:
        return httpx.get(f"{api}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _assert_no_secret_in(path: Path, secrets: Any) -> None:
    text = path.read_text(errors="replace")
    for secret in secrets:
        assert secret not in text


# Over stdio the session negotiates 2025-11-25, where resources/subscribe is the mechanism.
@pytest.mark.filterwarnings("ignore:resources/subscribe is removed")
def test_pending_request_is_approved_from_slack_and_pushed_to_the_agent(world: Any, tmp_path: Path) -> None:
    setup, slack, receiver, _ = world
    notifications: list[Any] = []

    async def on_message(message: Any) -> None:
        notifications.append(message)

    async def flow() -> None:
        errlog = (tmp_path / "mcp.log").open("w")
        async with agent_session(setup.mcp_env(), errlog=errlog, message_handler=on_message) as agent:
            reply = await agent.call("aws_request_access", {
                "account_id": "123456789012", "actions": ["s3:PutObject"],
                "resources": ["arn:aws:s3:::reports/e2e/*"], "regions": ["us-east-1"],
                "reason": "<script>alert(1)</script> upload the daily report", "source_context": SOURCE,
            })
            assert not reply.is_error, reply.text
            pending = reply.json
            assert pending["status"] == "pending"
            assert pending["notification_status"] == "sent"
            assert pending["notification_channel_name"] == "aws-approvals"
            assert pending["notification_permalink"]
            grant_id, uri = pending["grant_id"], f"grant://{pending['grant_id']}"
            await agent.session.subscribe_resource(uri)

            message = _wait_for(lambda: slack.messages[0] if slack.messages else None, "the Slack approval card")
            assert message.channel == CHANNEL and "cloud_broker_approve" in message.action_ids()
            assert "<script>" not in json.dumps(message.blocks)  # escaped for Slack

            headers, body = slack.signed_click(setup.secrets["E2E_SLACK_SIGNING"], "approve", grant_id, "U0ALICE",
                                               CHANNEL, message.ts)
            click = await anyio.to_thread.run_sync(
                lambda: httpx.post(f"{setup.api}/slack/interactivity", content=body, headers=headers, timeout=30))
            assert click.status_code == 200 and "active" in click.text
            notice = _wait_for(lambda: slack.responses, "the clicker's ephemeral notice")
            assert "is now active" in notice[0][1]["text"]

            with anyio.fail_after(WAIT):
                while not _resource_updated(notifications, uri) or not _logged(notifications, grant_id):
                    await anyio.sleep(0.1)
            read = await agent.session.read_resource(uri)
            assert json.loads(read.contents[0].text)["status"] == "active"

            credentials = await agent.call("aws_get_credentials", {"grant_id": grant_id})
            assert not credentials.is_error, credentials.text
            creds = credentials.json["credentials"]
        errlog.close()

        hook = _wait_for(lambda: _by_event(receiver.on("/hook"), "webhook_resolution"), "the resolution webhook")
        assert hook.verified and hook.json()["event"]["status"] == "active"
        callback = _wait_for(lambda: receiver.on("/callback"), "the agent callback")[0]
        assert callback.verified and callback.json()["status"] == "active"
        assert "Original conversation: slack C0TEAMCHAT, thread 1718000000.000100" in callback.json()["message"]
        _wait_for(lambda: not slack.message(message.ts).action_ids(), "the Slack card to lose its buttons")

        upload = tmp_path / "report.csv"
        upload.write_text("day,total\n1,2\n")
        aws = {"endpoint_url": setup.endpoint_url, "region": "us-east-1"}
        inside = run_aws(["s3", "cp", str(upload), "s3://reports/e2e/report.csv"], creds, **aws)
        assert inside.returncode == 0, inside.stderr
        outside = run_aws(["s3", "cp", str(upload), "s3://reports/other/report.csv"], creds, **aws)
        assert outside.access_denied
        stored = b"".join(f.read_bytes() for f in setup.state.glob("broker.db*"))  # WAL files included
        for secret in [*creds.values(), *setup.secrets.values(), setup.host_key]:
            assert secret not in (tmp_path / "mcp.log").read_text()
            assert all(secret not in call.body.decode() for call in receiver.calls)
            assert secret.encode() not in stored

    anyio.run(flow)


def _resource_updated(messages: list[Any], uri: str) -> bool:
    return any(getattr(getattr(m, "root", m), "method", None) == "notifications/resources/updated"
               and str(getattr(getattr(getattr(m, "root", m), "params", None), "uri", "")) == uri for m in messages)


def _logged(messages: list[Any], grant_id: str) -> bool:
    return any(getattr(getattr(m, "root", m), "method", None) == "notifications/message"
               and grant_id in json.dumps(getattr(m, "root", m).params.model_dump(mode="json"))
               for m in messages)


def _by_event(calls: list[Any], kind: str) -> Any:
    return next((c for c in calls if c.headers.get("X-Cloud-Broker-Event") == kind), None)


def test_serve_refuses_to_start_without_the_slack_secrets(emulator: Any, tmp_path: Path) -> None:
    secrets = {"E2E_SLACK_TOKEN": _secret("t"), "E2E_SLACK_SIGNING": _secret("s")}
    with run_fake_slack(secrets["E2E_SLACK_TOKEN"]) as slack, Receiver({}, lambda: datetime.now(UTC)) as rx:
        setup = Setup(tmp_path, emulator, slack, rx, secrets)
        env = {k: v for k, v in child_env().items() if not k.startswith("E2E_")}
        done = subprocess.run([sys.executable, "-m", "cloud_broker", "serve", "--state-dir", str(setup.state),
                               "--port", str(setup.port)], env=env, capture_output=True, text=True, timeout=60,
                              check=False)
    assert done.returncode != 0
    assert "E2E_SLACK_TOKEN is not set" in done.stderr + done.stdout
    assert not os.environ.get("E2E_SLACK_TOKEN")
