"""Migration 0006 upgrades a database the release before families wrote (``fixtures/``).

The fixture was made by that release's own code (``fixtures/make_release_db.py``); here today's
code refuses to open a copy until ``cloud-broker db upgrade``'s function has upgraded it, and
then must read every row as the same grant it was.
"""

from __future__ import annotations

import shutil
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config

from cloud_broker.domain.grants import GrantStatus
from cloud_broker.domain.requests import AccessRequest
from cloud_broker.service.access import GrantAsk, request_key
from cloud_broker.errors import SchemaMismatch
from cloud_broker.store.schema import MIGRATIONS, upgrade
from cloud_broker.store.sql import SqlStore, create_store_engine
from cloud_broker.vault import Vault

FIXTURE = Path(__file__).parent / "fixtures" / "release-0005.db"
AGENT = "0f6a2c3e-1b7d-4c55-9a8e-2d4f6b8c0e11"
RUN = "6d1e9a7b-3c2f-4e81-b5a4-9f0c7e2d1a33"
ACTIVE, PENDING, NARROWED, DENIED = (f"{d * 8}-{d * 4}-4{d * 3}-8{d * 3}-{d * 12}" for d in "1234")


@pytest.fixture
def upgraded(tmp_path: Path) -> SqlStore:
    copy = tmp_path / "broker.db"
    shutil.copy(FIXTURE, copy)
    assert _columns(copy) >= {"provider", "account_id", "actions", "resources", "regions"}
    with pytest.raises(SchemaMismatch, match=r"revision 0005, this cloud-broker needs .* `cloud-broker db upgrade`"):
        SqlStore.open(f"sqlite:///{copy}")
    assert _columns(copy) >= {"provider"}  # refused, and untouched
    assert upgrade(create_store_engine(f"sqlite:///{copy}")).current == "0005"
    return SqlStore.open(f"sqlite:///{copy}")


def _columns(path: Path) -> set[str]:
    with sqlite3.connect(path) as connection:
        return {row[1] for row in connection.execute("PRAGMA table_info(grants)")}


def test_every_row_reads_as_the_same_aws_grant(upgraded: SqlStore) -> None:
    with upgraded.unit_of_work() as uow:
        active, pending, narrowed, denied = (uow.get_grant(g) for g in (ACTIVE, PENDING, NARROWED, DENIED))
    assert (active.family, active.target, active.status) == ("aws", "123456789012", GrantStatus.ACTIVE)
    assert active.scope == {"actions": ("s3:GetObject", "s3:ListBucket"),
                            "resources": ("arn:aws:s3:::reports", "arn:aws:s3:::reports/*"), "regions": ("us-east-1",)}
    assert pending.scope["regions"] == ("us-east-1", "eu-west-1") and pending.ttl == timedelta(seconds=1200)
    assert narrowed.scope["actions"] == ("s3:PutObject",) and narrowed.approvals == ("alice",)
    assert narrowed.requested is not None and narrowed.requested["actions"] == ["s3:PutObject", "s3:GetObject"]
    assert denied.status is GrantStatus.DENIED and denied.denial_reason == "iam:CreateUser is on the denylist"


def test_the_old_columns_are_gone_and_secrets_and_trail_stay(upgraded: SqlStore, tmp_path: Path) -> None:
    assert _columns(tmp_path / "broker.db") >= {"family", "target", "scope"}
    assert not _columns(tmp_path / "broker.db") & {"provider", "account_id", "actions", "resources", "regions"}
    with upgraded.unit_of_work() as uow:
        sealed = uow.find_secret(ACTIVE)
        trail = uow.list_audit(grant_id=PENDING)
    assert sealed is not None and Vault(bytes(range(32))).open(ACTIVE, sealed) == b'{"access_key_id":"ASIAOLD"}'
    assert [row.event for row in trail] == ["grant.requested"]


def test_a_repeat_of_a_request_pending_since_before_the_upgrade_finds_it(upgraded: SqlStore) -> None:
    """Request keys are recomputed under today's formula: the same agent, run and scope (lists in
    another order) is the same request, and nobody is paged twice for it."""
    scope = {"actions": ("s3:GetObject", "s3:PutObject"), "resources": ("arn:aws:s3:::reports/*",),
             "regions": ("eu-west-1", "us-east-1")}
    ask = GrantAsk(RUN, AccessRequest("aws", "123456789012", scope, timedelta(seconds=1200)))
    with upgraded.unit_of_work() as uow:
        found = uow.find_pending_duplicate(request_key(AGENT, ask))
    assert found is not None and found.grant_id == PENDING


def test_downgrade_restores_the_old_shape_and_refuses_other_families(upgraded: SqlStore, tmp_path: Path) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    engine = create_store_engine(f"sqlite:///{tmp_path / 'broker.db'}")
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0005")
    assert _columns(tmp_path / "broker.db") >= {"provider", "account_id", "actions"}
    with sqlite3.connect(tmp_path / "broker.db") as connection:
        assert connection.execute("SELECT actions FROM grants WHERE grant_id = ?", (NARROWED,)).fetchone() \
            == ('["s3:PutObject"]',)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        connection.exec_driver_sql("UPDATE grants SET family = 'gcp' WHERE grant_id = ?", (DENIED,))
    with pytest.raises(RuntimeError, match="families other than aws"), engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0005")
