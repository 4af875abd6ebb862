"""A real broker with the console installed: the API app on the moto emulator, approvers with
passwords, and (for the browser tests) the same app served by uvicorn and driven by Chromium.

Grants are filed through the real API, as an agent's host would file them.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient

from cloud_broker.api.app import create_app
from cloud_broker.api.tokens import SIGNING_KEY_PURPOSE, TokenIssuer
from cloud_broker.config import hash_api_key, new_api_key, parse_config
from cloud_broker.domain.grants import Grant
from cloud_broker.families.aws.provider import AwsStsProvider
from cloud_broker.service.broker import Broker
from cloud_broker.service.deps import Deps
from cloud_broker.store.sql import SqlStore
from cloud_broker.vault import Vault
from cloud_broker.web import install_console
from tests.api.conftest import ACCOUNT, Clock, config_yaml

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
PASSWORDS = {"alice": "alice-correct-horse", "bob": "bob-battery-staple", "carol": "carol-tr0ub4dor-3"}
# Cheap argon2id parameters: the server verifies with whatever the hash says, and tests stay quick.
_TEST_HASHER = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
_HASHES = {name: _TEST_HASHER.hash(pw) for name, pw in PASSWORDS.items()}
BOB_CHAT_ID = "U0BOB"
PUT_REPORT: dict[str, Any] = {
    "account_id": ACCOUNT,
    "actions": ["s3:PutObject", "s3:GetObject"],
    "resources": ["arn:aws:s3:::reports/*"],
    "regions": ["us-east-1"],
    "ttl_seconds": 900,
    "task_id": "JIRA-42",
    "reason": "Upload the regenerated daily report",
    "source_context": {"channel_type": "slack", "channel_id": "C0REPORTS", "thread_ts": "1712345678.000100"},
}
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def console_config(role_arn: str, key_hash: str, agents: dict[str, str]) -> dict[str, Any]:
    """tests/api's broker.yaml with passwords, a second approver, a two-person rule for deletes,
    and a ceiling of team 'other' that only carol approves (so she is a non-approver for 'data')."""
    config = config_yaml(role_arn, key_hash, agents)
    config["approvers"] = [
        {"name": "alice", "display_name": "Alice Approver", "password_hash": _HASHES["alice"]},
        {"name": "bob", "password_hash": _HASHES["bob"], "chat_ids": [BOB_CHAT_ID]},
        {"name": "carol", "password_hash": _HASHES["carol"]},
        {"name": "dave"},
    ]
    data = config["ceilings"][0]
    data["approvers"] = ["alice", "bob"]
    data["approval_rules"] = [{"name": "two-person-deletes", "actions": ["s3:DeleteObject"], "required_approvals": 2}]
    config["ceilings"].append({**data, "team": "other", "approvers": ["carol"], "approval_rules": []})
    return config


@dataclass
class ConsoleUnderTest:
    app: FastAPI
    client: TestClient
    broker: Broker
    tokens: TokenIssuer
    clock: Clock
    agent_id: str
    foreign_agent_id: str

    def new_client(self, base_url: str = "http://testserver") -> TestClient:
        return TestClient(self.app, base_url=base_url, raise_server_exceptions=False)

    def request_grant(self, host: str = "host-a", agent_id: str | None = None, **overrides: Any) -> dict[str, Any]:
        """File a grant through the real API; the default routes to alice and bob."""
        body = {**PUT_REPORT, "agent_id": agent_id or self.agent_id, "run_id": str(uuid.uuid4()), **overrides}
        reply = self.client.post("/aws/grants", json=body, headers={"Authorization": f"Bearer {self.tokens.issue(host)}"})
        assert reply.status_code == 200, reply.text
        return reply.json()  # type: ignore[no-any-return]

    def pending_grant(self, **overrides: Any) -> str:
        reply = self.request_grant(**overrides)
        assert reply["status"] == "pending", reply
        return str(reply["grant_id"])

    def grant(self, grant_id: str) -> Grant:
        with self.broker.deps.store.unit_of_work() as uow:
            return uow.get_grant(grant_id)

    def audit_events(self, grant_id: str) -> list[str]:
        with self.broker.deps.store.unit_of_work() as uow:
            return [e.event for e in uow.list_audit(grant_id=grant_id)]

    def sign_in(self, name: str, client: TestClient | None = None) -> str:
        """Sign ``name`` in on ``client`` (the default one) and return the session's CSRF token."""
        client = client or self.client
        reply = client.post("/console/login", data={"name": name, "password": PASSWORDS[name]}, follow_redirects=False)
        assert reply.status_code == 303, reply.text
        return csrf_of(client.get("/console/").text)


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def console_under_test(emulator: Any, tmp_path: Path, edit: Callable[[dict[str, Any]], None] | None = None,
                       secrets: Mapping[str, str] | None = None, store_url: str | None = None,
                       master_key: bytes | None = None) -> ConsoleUnderTest:
    """The broker and its console on ``console_config``, changed first by ``edit`` if given, on
    ``store_url`` (a SQLite file under ``tmp_path`` by default), sealing with ``master_key`` (a
    fresh one by default; brokers sharing a store share it)."""
    import boto3

    host_key = new_api_key()
    agents = {k: str(uuid.uuid4()) for k in ("agent", "other", "foreign")}
    data = console_config(emulator.role_arn, hash_api_key(host_key), agents)
    if edit is not None:
        edit(data)
    config = parse_config(data)
    session = boto3.Session(aws_access_key_id=emulator.source_access_key_id,
                            aws_secret_access_key=emulator.source_secret_access_key, region_name="us-east-1")
    clock = Clock()
    vault = Vault(master_key or os.urandom(32))
    deps = Deps(config=config, store=SqlStore.open(store_url or f"sqlite:///{tmp_path / 'broker.db'}"),
                providers={"aws": AwsStsProvider(session, endpoint_url=emulator.endpoint_url)},
                vault=vault, clock=clock)
    broker = Broker(deps)
    tokens = TokenIssuer(vault.derive_key(SIGNING_KEY_PURPOSE))
    app = create_app(broker, tokens)
    install_console(app, broker, secrets)
    client = TestClient(app, raise_server_exceptions=False)
    return ConsoleUnderTest(app, client, broker, tokens, clock, agents["agent"], agents["foreign"])


@pytest.fixture
def ct(emulator: Any, tmp_path: Path, store_url: str) -> Iterator[ConsoleUnderTest]:
    under_test = console_under_test(emulator, tmp_path, store_url=store_url)
    yield under_test
    under_test.client.close()


@dataclass
class LiveServer:
    url: str
    ct: ConsoleUnderTest


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def serving(app: FastAPI, sock: socket.socket) -> Iterator[str]:
    """``app`` on a real uvicorn server on ``sock`` (127.0.0.1), in a thread of this process; yields its URL."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    wait_for(lambda: server.started, "uvicorn did not start")
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


@pytest.fixture
def live(ct: ConsoleUnderTest) -> Iterator[LiveServer]:
    """The console app on a real uvicorn server on 127.0.0.1, in a thread of this process."""
    with serving(ct.app, free_socket()) as url:
        yield LiveServer(url=url, ct=ct)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless. Missing Chromium fails loudly: these tests must not vanish."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"browser tests need Chromium at {CHROMIUM} (Debian package 'chromium'); "
                    "it is not installed. Never run 'playwright install' for these tests.")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context()
    opened = context.new_page()
    yield opened
    context.close()


def wait_for(condition: Any, message: str) -> None:
    """Poll ``condition`` (a startup, not a timing assertion); give up after a generous while."""
    for _ in range(600):
        if condition():
            return
        time.sleep(0.05)
    raise RuntimeError(message)
