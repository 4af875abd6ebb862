"""Slack tests run the real slack_sdk against the local fake Slack, and clicks against a real
broker (SQLite, vault, STS minting on the moto emulator). Secrets are built at run time so no
token-shaped literal sits in the source."""

from __future__ import annotations

import dataclasses

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from cloud_broker.api.errors import install_error_handlers
from cloud_broker.families.aws import family
from cloud_broker.families.aws.catalogue import Catalogue
from cloud_broker.families.aws.risk import assess
from cloud_broker.notify.cards import ApprovalCard
from cloud_broker.notify.slack import SlackNotifier
from cloud_broker.notify.slack_routes import slack_router
from cloud_broker.service.broker import Broker
from cloud_broker.service.family import Target
from tests.fakes.fake_slack import FakeSlack, run_fake_slack
from tests.notify.pager_fixtures import NotifyBroker, RecordingSlack, Setup, notify_broker

APPROVALS = "C0APPROVALS"
SLACK_IDS = {"alice": "U0ALICE", "bob": "U0BOB", "carol": "U0CAROL"}


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    return Catalogue.default()


@pytest.fixture
def bot_token() -> str:
    return "xoxb-" + "test-" + uuid.uuid4().hex


@pytest.fixture
def signing_secret() -> str:
    return "signing-" + uuid.uuid4().hex


@pytest.fixture
def slack(bot_token: str) -> Iterator[FakeSlack]:
    with run_fake_slack(bot_token) as fake:
        fake.add_channel(APPROVALS, "approvals")
        yield fake


@pytest.fixture
def notifier(slack: FakeSlack, bot_token: str) -> SlackNotifier:
    return SlackNotifier(bot_token, base_url=slack.base_url)


@pytest.fixture
def make_card(catalogue: Catalogue) -> Callable[..., ApprovalCard]:
    def make(**overrides: Any) -> ApprovalCard:
        actions = tuple(overrides.pop("actions", ("s3:PutObject", "s3:GetObject")))
        resources = tuple(overrides.pop("resources", ("arn:aws:s3:::reports/*",)))
        regions = tuple(overrides.pop("regions", ("us-east-1",)))
        fields: dict[str, Any] = {
            "grant_id": str(uuid.uuid4()), "status": "pending", "team": "data",
            "target": Target("aws", "AWS account", "account_id", "123456789012", overrides.pop("account_name", "Sandbox")),
            "agent_id": str(uuid.uuid4()), "agent_name": "a1", "run_id": str(uuid.uuid4()),
            "scope": {"actions": actions, "resources": resources, "regions": regions},
            "fields": family.scope_fields, "ttl_seconds": 900,
            "risk": assess(actions, resources, catalogue), "required_approvals": 1, "approvals": (),
            "task_id": "kanban:task-42", "reason": "upload the nightly report",
            "console_url": "https://broker.example/console/grants/x",
        }
        return ApprovalCard(**{**fields, **overrides})

    return make


@dataclass
class SlackBroker:
    client: TestClient
    broker: Broker
    secret: str = field(repr=False)  # a failing assertion must not print it
    agent_id: str
    slack: FakeSlack

    def pending_grant(self, **overrides: Any) -> str:
        """A request the ceiling routes to alice: a write outside the auto-approve rule."""
        from cloud_broker.families.aws.wire import GrantCreateBody

        body = {"agent_id": self.agent_id, "run_id": str(uuid.uuid4()), "account_id": "123456789012",
                "actions": ["s3:PutObject"], "resources": ["arn:aws:s3:::reports/*"], "regions": ["us-east-1"],
                "ttl_seconds": 900, **overrides}
        outcome = self.broker.access.request("host-a", self.agent_id, GrantCreateBody(**body).to_ask())
        assert outcome.grant.status.value == "pending"
        return outcome.grant.grant_id

    def status(self, grant_id: str) -> str:
        with self.broker.deps.store.unit_of_work() as uow:
            return uow.get_grant(grant_id).status.value

    def click(self, action: str, grant_id: str, user_id: str, timestamp: int | None = None,
              secret: str | None = None) -> Any:
        headers, body = self.slack.signed_click(secret or self.secret, action, grant_id, user_id, APPROVALS,
                                                "1700000000.000100", timestamp)
        return self.client.post("/slack/interactivity", content=body, headers=headers)


@pytest.fixture
def slack_broker(request: pytest.FixtureRequest, emulator: Any, tmp_path: Path, slack: FakeSlack,
                 signing_secret: str, catalogue: Catalogue, store_url: str) -> Iterator[SlackBroker]:
    """A broker behind the Slack route; an indirect parameter is merged into its ceiling."""
    import boto3  # type: ignore[import-untyped]

    from cloud_broker.config import hash_api_key, new_api_key, parse_config
    from cloud_broker.families.aws.provider import AwsStsProvider
    from cloud_broker.service.deps import Deps
    from cloud_broker.store.sql import SqlStore
    from cloud_broker.vault import Vault
    from tests.api.conftest import config_yaml

    agents = {k: str(uuid.uuid4()) for k in ("agent", "other", "foreign")}
    raw = config_yaml(emulator.role_arn, hash_api_key(new_api_key()), agents)
    raw["approvers"] = [{"name": name, "slack_user_id": slack_id} for name, slack_id in SLACK_IDS.items()]
    raw["ceilings"][0].update(getattr(request, "param", {}))
    session = boto3.Session(aws_access_key_id=emulator.source_access_key_id,
                            aws_secret_access_key=emulator.source_secret_access_key, region_name="us-east-1")
    deps = Deps(config=parse_config(raw), store=SqlStore.open(store_url),
                providers={"aws": AwsStsProvider(session, endpoint_url=emulator.endpoint_url)},
                vault=Vault(os.urandom(32)))
    app = FastAPI()
    app.state.broker = Broker(deps)
    install_error_handlers(app)
    app.include_router(slack_router(signing_secret, reply_hosts=frozenset({"127.0.0.1"})))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield SlackBroker(client, app.state.broker, signing_secret, agents["agent"], slack)


@pytest.fixture
def nb(emulator: Any, tmp_path: Path, store_url: str) -> Iterator[NotifyBroker]:
    """Webhook-only paging, an agent callback, every secret set."""
    yield from notify_broker(emulator, tmp_path, store_url=store_url)


@pytest.fixture
def wired(request: pytest.FixtureRequest, emulator: Any, tmp_path: Path, store_url: str) -> Iterator[NotifyBroker]:
    """A broker wired as the test's (indirect) parameter says. A recording Slack in the parameter
    is one object for every run of the test (each store's): each run records into its own copy."""
    setup = getattr(request, "param", Setup())
    if isinstance(setup.slack, RecordingSlack):
        setup = dataclasses.replace(setup, slack=dataclasses.replace(
            setup.slack, posts=[], updates=[], summaries=[], summary_updates=[]))
    yield from notify_broker(emulator, tmp_path, setup, store_url=store_url)
