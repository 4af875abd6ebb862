"""A real broker in this process: the FastAPI app, its store (SQLite on disk, or PostgreSQL for a
module marked ``both_stores``), the vault, and STS minting against the AWS emulator. Only the clock is ours to move, so expiry can be tested."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cloud_broker.api.app import create_app
from cloud_broker.api.routes_ops import Operations
from cloud_broker.api.tokens import SIGNING_KEY_PURPOSE, TokenIssuer
from cloud_broker.config import hash_api_key, new_api_key, parse_config
from cloud_broker.families.aws.provider import AwsStsProvider
from cloud_broker.families.aws.revoker import AwsRevokePlan
from cloud_broker.observability.metrics import BrokerMetrics
from cloud_broker.observability.observed import observed
from cloud_broker.service.broker import Broker
from cloud_broker.service.deps import Deps
from cloud_broker.store.schema import readiness
from cloud_broker.store.sql import SqlStore
from cloud_broker.vault import Vault

ACCOUNT = "123456789012"
READ_REPORTS: dict[str, Any] = {
    "account_id": ACCOUNT,
    "actions": ["s3:GetObject", "s3:ListBucket"],
    "resources": ["arn:aws:s3:::reports/*", "arn:aws:s3:::reports"],
    "regions": ["us-east-1"],
    "ttl_seconds": 900,
}


@dataclass
class Clock:
    """Real time plus an offset the test may add to."""

    offset: timedelta = field(default_factory=timedelta)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@dataclass
class BrokerUnderTest:
    client: TestClient
    broker: Broker
    tokens: TokenIssuer
    clock: Clock
    db_path: Path
    db_url: str
    host_key: str
    agent_id: str
    other_agent_id: str
    foreign_agent_id: str
    emulator: Any
    raw_config: dict[str, Any] = field(default_factory=dict)
    # The vault's master key, for a process that must share it (a CLI run on PostgreSQL).
    master_key: bytes = field(default=b"", repr=False)

    def headers(self, host: str = "host-a") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens.issue(host)}"}

    def grant_body(self, **overrides: Any) -> dict[str, Any]:
        return {**READ_REPORTS, "agent_id": self.agent_id, "run_id": str(uuid.uuid4()), **overrides}

    def counts(self) -> tuple[int, int, int]:
        """Rows in grants, grant_secrets and audit_events: 'nothing written' means unchanged."""
        from sqlalchemy import func, select

        from cloud_broker.store.tables import audit_events, grant_secrets, grants

        with self.broker.deps.store.engine.connect() as c:  # type: ignore[attr-defined]
            return tuple(c.execute(select(func.count()).select_from(t)).scalar_one()  # type: ignore[return-value]
                         for t in (grants, grant_secrets, audit_events))


def s3_client(bt: BrokerUnderTest, creds: dict[str, str], region: str = "us-east-1") -> Any:
    """An S3 client on the emulator that signs with credentials the broker handed out."""
    import boto3

    return boto3.client(
        "s3", endpoint_url=bt.emulator.endpoint_url, region_name=region,
        aws_access_key_id=creds["access_key_id"], aws_secret_access_key=creds["secret_access_key"],
        aws_session_token=creds["session_token"],
    )


class PassThrough:
    """The real provider, for a test to override one step of (to fail it, or act in its middle)."""

    def __init__(self, inner: Any = None) -> None:
        self.inner = inner

    def mint(self, plan: Any) -> Any:
        return self.inner.mint(plan)

    def revoke(self, *args: Any) -> Any:
        return self.inner.revoke(*args)

    def collect(self, *args: Any) -> Any:
        return self.inner.collect(*args)


def reads_reports(s3: Any) -> bool:
    """Whether ``s3`` may read ``s3://reports/today.csv``; any refusal must be IAM's AccessDenied."""
    from botocore.exceptions import ClientError

    try:
        s3.get_object(Bucket="reports", Key="today.csv")
    except ClientError as refused:
        assert refused.response["Error"]["Code"] == "AccessDenied"
        return False
    return True


def config_yaml(role_arn: str, key_hash: str, agents: dict[str, str]) -> dict[str, Any]:
    return {
        "approvers": [{"name": "alice"}, {"name": "bob"}, {"name": "carol"}],
        "teams": [{"name": "data"}, {"name": "other"}],
        "hosts": [
            {"name": "host-a", "team": "data", "api_keys": [key_hash]},
            {"name": "host-b", "team": "other", "api_keys": [hash_api_key(new_api_key())]},
        ],
        "agents": [
            {"id": agents["agent"], "name": "a1", "team": "data", "host": "host-a"},
            {"id": agents["other"], "name": "a2", "team": "data", "host": "host-a"},
            {"id": agents["foreign"], "name": "b1", "team": "other", "host": "host-b"},
        ],
        "aws_accounts": [{
            "account_id": ACCOUNT, "display_name": "Sandbox", "role_arn": role_arn,
            "default_region": "us-east-1", "allowed_regions": ["us-east-1", "eu-west-1"],
        }],
        "ceilings": [{
            "team": "data", "account_id": ACCOUNT, "max_ttl_seconds": 3600, "allowed_regions": ["us-east-1"],
            "auto_approve": [{"name": "read-reports", "actions": ["s3:GetObject", "s3:ListBucket"],
                              "resources": ["arn:aws:s3:::reports", "arn:aws:s3:::reports/*"]}],
            "action_denylist": ["iam:PassRole", "organizations:*"],
            "approvers": ["alice"],
        }],
    }


@pytest.fixture
def bt(emulator: Any, tmp_path: Path, store_url: str) -> Iterator[BrokerUnderTest]:
    with broker_under_test(emulator, tmp_path, store_url=store_url) as under_test:
        yield under_test


@contextmanager
def broker_under_test(
    emulator: Any,
    tmp_path: Path,
    edit_config: Callable[[dict[str, Any]], None] | None = None,
    provider: Any = None,
    other_providers: dict[str, Any] | None = None,
    store: Callable[[Any], Any] | None = None,
    store_url: str | None = None,
    metrics: BrokerMetrics | None = None,
) -> Iterator[BrokerUnderTest]:
    """The broker of ``bt``; ``edit_config`` may change the config dict before it is parsed,
    ``provider`` may wrap the real STS provider (e.g. to count calls), ``other_providers`` adds
    other families' (by family name), ``store`` may wrap the store (to inject its faults);
    ``store_url`` names the store (a SQLite file under ``tmp_path`` by default); ``metrics``
    makes the broker feed them and the app report them, as ``serve`` wires it."""
    import boto3

    host_key = new_api_key()
    agents = {k: str(uuid.uuid4()) for k in ("agent", "other", "foreign")}
    raw = config_yaml(emulator.role_arn, hash_api_key(host_key), agents)
    if edit_config is not None:
        edit_config(raw)
    config = parse_config(raw)
    session = boto3.Session(aws_access_key_id=emulator.source_access_key_id,
                            aws_secret_access_key=emulator.source_secret_access_key, region_name="us-east-1")
    db_path = tmp_path / "broker.db"
    clock = Clock()
    master_key = os.urandom(32)
    vault = Vault(master_key)
    sts = AwsStsProvider(session, endpoint_url=emulator.endpoint_url)
    db_url = store_url or f"sqlite:///{db_path}"
    opened = SqlStore.open(db_url)
    deps = Deps(config=config, store=store(opened) if store else opened,
                providers={"aws": provider(sts) if provider else sts, **(other_providers or {})}, vault=vault,
                clock=clock)
    operations = None
    if metrics is not None:
        deps, operations = observed(deps, metrics), Operations(metrics, readiness(opened.engine))
    broker = Broker(deps)
    tokens = TokenIssuer(vault.derive_key(SIGNING_KEY_PURPOSE))
    try:
        with TestClient(create_app(broker, tokens, operations=operations), raise_server_exceptions=False) as client:
            yield BrokerUnderTest(client, broker, tokens, clock, db_path, db_url, host_key,
                                  agents["agent"], agents["other"], agents["foreign"], emulator, raw, master_key)
    finally:
        opened.engine.dispose()
        forget_revocations(sts, emulator)


def forget_revocations(sts: AwsStsProvider, emulator: Any) -> None:
    """Empty the shared role's revocation policy, as the collector would once every session it
    names has expired: one test's revocations must not fill the role for the next."""
    sts.collect(AwsRevokePlan(ACCOUNT, emulator.role_arn, None, datetime.now(UTC) + timedelta(days=1)))
