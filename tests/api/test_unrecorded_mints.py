"""A mint the cloud granted but the store would not record (disk full, read-only database) is
never handed out and never left valid: the client gets a 503 naming the grant, and as soon as
the store takes writes again the grant is failed and its session refused by the emulator.

The store's fault is injected at its port (every unit of work raises SQLite's own
``OperationalError`` while the fault lasts): the suite runs as root, which ignores a read-only
file mode, and mounting a full filesystem needs privileges a test should not assume."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from cloud_broker.domain.grants import GrantStatus

from .conftest import BrokerUnderTest, PassThrough, broker_under_test, s3_client


class FaultyStore:
    """The real store, refusing every unit of work while ``failing``."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.failing = False

    def unit_of_work(self) -> AbstractContextManager[Any]:
        if self.failing:
            raise OperationalError("UPDATE grants SET status=?", {}, Exception("attempt to write a readonly database"))
        return self.inner.unit_of_work()  # type: ignore[no-any-return]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class FaultAfterMint(PassThrough):
    """The real STS provider; once it has minted, the store starts failing."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.store, self.issued = None, []  # type: ignore[var-annotated]

    def mint(self, plan: Any) -> Any:
        issued = self.inner.mint(plan)
        self.issued.append(issued.values)
        assert self.store is not None
        self.store.failing = True
        return issued


@pytest.fixture
def faulty(emulator: Any, tmp_path: Path) -> Iterator[tuple[BrokerUnderTest, FaultyStore, FaultAfterMint]]:
    made: dict[str, Any] = {}

    def wrap_provider(sts: Any) -> FaultAfterMint:
        made["provider"] = FaultAfterMint(sts)
        return made["provider"]  # type: ignore[no-any-return]

    def wrap_store(store: Any) -> FaultyStore:
        made["store"] = FaultyStore(store)
        return made["store"]  # type: ignore[no-any-return]

    with broker_under_test(emulator, tmp_path, provider=wrap_provider, store=wrap_store) as bt:
        made["provider"].store = made["store"]
        yield bt, made["store"], made["provider"]


def test_a_mint_the_store_cannot_record_answers_503_with_the_grant_and_is_revoked_once_it_can(
        faulty: tuple[BrokerUnderTest, FaultyStore, FaultAfterMint]) -> None:
    bt, store, provider = faulty
    reply = bt.client.post("/aws/grants", json=bt.grant_body(), headers=bt.headers())
    assert reply.status_code == 503 and reply.headers["Retry-After"]
    body = reply.json()
    grant_id = body["grant_id"]
    assert body["error_code"] == "STORE_UNAVAILABLE" and grant_id in body["error"]
    [values] = provider.issued
    assert values["secret_access_key"] not in reply.text and values["session_token"] not in reply.text
    assert bt.broker.orphans.pending() == [grant_id]
    assert bt.broker.orphans.settle() == 0  # the store still refuses: kept for the next try

    store.failing = False
    assert bt.broker.orphans.settle() == 1 and bt.broker.orphans.pending() == []
    with bt.broker.deps.store.unit_of_work() as uow:
        grant = uow.get_grant(grant_id)
        assert uow.find_secret(grant_id) is None
    assert grant.status is GrantStatus.FAILED and "could not record" in (grant.denial_reason or "")
    creds = {"access_key_id": values["access_key_id"], "secret_access_key": values["secret_access_key"],
             "session_token": values["session_token"]}
    s3_client(bt, creds).get_object(Bucket="reports", Key="today.csv")  # still valid until the job runs
    assert bt.broker.jobs.run_due() == 1
    with pytest.raises(Exception, match="AccessDenied"):
        s3_client(bt, creds).get_object(Bucket="reports", Key="today.csv")
    assert bt.broker.revocations.state(grant_id).revoked_in_cloud is True  # type: ignore[union-attr]
    polled = bt.client.get(f"/aws/grants/{grant_id}", params={"agent_id": bt.agent_id}, headers=bt.headers())
    assert polled.json()["status"] == "failed"


class CrashingMint(PassThrough):
    """The real STS provider, whose mint dies after the cloud answered (as a killed process would
    leave it: the row stays ``minting``)."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.issued: list[dict[str, str]] = []

    def mint(self, plan: Any) -> Any:
        self.issued.append(self.inner.mint(plan).values)
        raise RuntimeError("process died here")


def test_a_mint_of_a_live_process_is_left_alone_and_one_of_a_dead_process_is_failed_and_revoked(
        emulator: Any, tmp_path: Path) -> None:
    from dataclasses import replace

    from cloud_broker.service import leases
    from cloud_broker.service.minting import MINT_INTENT
    from cloud_broker.service.orphans import INSTANCE_LEASE
    from cloud_broker.service.revocation import CLOUD_REVOKE

    made: dict[str, CrashingMint] = {}

    def wrap(sts: Any) -> CrashingMint:
        made["p"] = CrashingMint(sts)
        return made["p"]

    with broker_under_test(emulator, tmp_path, provider=wrap) as bt:
        reply = bt.client.post("/aws/grants", json=bt.grant_body(), headers=bt.headers())
        assert reply.status_code == 500
        store = bt.broker.deps.store
        with store.unit_of_work() as uow:
            [grant] = uow.list_grants(statuses=(GrantStatus.MINTING,))
            [intent] = uow.list_deliveries(grant_id=grant.grant_id, kinds=(MINT_INTENT,))
            assert intent.payload["instance"] == bt.broker.deps.instance
            uow.update_delivery(replace(intent, payload={"instance": "other-process"}))  # minted by another one
        leases.acquire(store, "instance:other-process", bt.clock(), INSTANCE_LEASE)
        assert bt.broker.sweeper.sweep()["failed"] == 0  # it lives: its mint may still commit

        bt.clock.offset += INSTANCE_LEASE  # it stopped renewing its lease: it is gone
        assert bt.broker.sweeper.sweep()["failed"] == 1
        with store.unit_of_work() as uow:
            settled = uow.get_grant(grant.grant_id)
            assert [j.kind for j in uow.list_deliveries(grant_id=grant.grant_id, kinds=(CLOUD_REVOKE,))] == [CLOUD_REVOKE]
        assert settled.status is GrantStatus.FAILED and "stopped before recording it" in (settled.denial_reason or "")
        assert bt.broker.jobs.run_due() == 1
        [values] = made["p"].issued
        with pytest.raises(Exception, match="AccessDenied"):
            s3_client(bt, values).get_object(Bucket="reports", Key="today.csv")
