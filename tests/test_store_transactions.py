"""The unit of work is one transaction on either store: nothing of it survives a rollback."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
import pytest

from cloud_broker.domain.grants import Grant, GrantStatus
from cloud_broker.service.ports import AuditEvent, Delivery
from cloud_broker.store.sql import SqlStore

pytestmark = pytest.mark.both_stores


def _grant(key: str | None = None) -> Grant:
    now = datetime.now(UTC)
    return Grant(
        grant_id=str(uuid.uuid4()), family="aws", team="t", host="h", agent_id=str(uuid.uuid4()),
        run_id=str(uuid.uuid4()), target="123456789012",
        scope={"actions": ("s3:GetObject",), "resources": ("arn:aws:s3:::b/*",), "regions": ("us-east-1",)},
        ttl=timedelta(seconds=900),
        status=GrantStatus.PENDING, decision="route_to_approver", created_at=now, updated_at=now,
        pending_expires_at=now + timedelta(hours=1), request_key=key,
    )


class Boom(Exception):
    pass


def test_a_grant_written_through_a_savepoint_rolls_back_with_its_unit_of_work(store_url: str) -> None:
    """insert_grant uses a savepoint (to turn a duplicate into DuplicateRequest); a failure
    later in the same unit of work must still undo it."""
    store = SqlStore.open(store_url)
    grant = _grant(key=uuid.uuid4().hex)
    with pytest.raises(Boom), store.unit_of_work() as uow:
        uow.insert_grant(grant)
        raise Boom
    with store.unit_of_work() as uow:
        assert uow.find_grant(grant.grant_id) is None


def test_a_delivery_written_first_rolls_back_too(store_url: str) -> None:
    store = SqlStore.open(store_url)
    now = datetime.now(UTC)
    with pytest.raises(Boom), store.unit_of_work() as uow:
        uow.insert_delivery(Delivery(None, 1, "webhook_page", "oncall", "pending", 0, {}, now, now, next_attempt_at=now))
        uow.append_audit(AuditEvent(event="grant.requested", actor="a", at=now))
        raise Boom
    with store.unit_of_work() as uow:
        assert uow.list_deliveries() == [] and uow.last_audit_seq() == 0


def test_a_stale_revision_does_not_overwrite(store_url: str) -> None:
    store = SqlStore.open(store_url)
    grant = _grant()
    with store.unit_of_work() as uow:
        uow.insert_grant(grant)
    with store.unit_of_work() as uow:
        read = uow.get_grant(grant.grant_id)
        assert uow.update_grant(read, expected=GrantStatus.PENDING, revision=read.revision)
        assert not uow.update_grant(read, expected=GrantStatus.PENDING, revision=read.revision)


def test_the_migrations_build_exactly_the_schema_the_code_declares(store_url: str) -> None:
    """tables.py (what queries use) and the migrations (what databases get) must not drift."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from cloud_broker.store.tables import metadata

    store = SqlStore.open(store_url)
    with store.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert differences == []


def test_a_fresh_delivery_is_written_without_a_savepoint_and_a_clash_fails_its_unit_of_work(tmp_path: Path) -> None:
    from sqlalchemy.exc import IntegrityError

    store = SqlStore.open(f"sqlite:///{tmp_path / 'b.db'}")
    now = datetime.now(UTC)
    job = Delivery(None, 7, "mint_intent", "g", "recorded", 0, {}, now, now)
    with store.unit_of_work() as uow:
        first = uow.insert_fresh_delivery(job)
    assert [d.id for d in store_deliveries(store)] == [first]
    with pytest.raises(IntegrityError), store.unit_of_work() as uow:
        uow.append_audit(AuditEvent(event="grant.requested", actor="a", at=now))
        uow.insert_fresh_delivery(job)  # the same (event, kind, target): a bug, never a silent skip
    with store.unit_of_work() as uow:
        assert uow.last_audit_seq() == 0  # the whole unit of work rolled back
    assert [d.id for d in store_deliveries(store)] == [first]


def store_deliveries(store: SqlStore) -> list[Delivery]:
    with store.unit_of_work() as uow:
        return uow.list_deliveries()
