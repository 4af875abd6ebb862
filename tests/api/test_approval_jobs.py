"""Approvals are executed by the broker, not by the approver's shell.

``cloud-broker approve`` records the decision and a mint job; a broker process mints it with
the broker's own cloud identity. A mint job runs at most once, and an approval nobody mints is
settled as failed with a reason that says why.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from cloud_broker.service.minting import INTERRUPTED, MINT
from cloud_broker.service.sweeper import MINT_WAIT, NOBODY_MINTED
from cloud_broker.vault import MASTER_KEY_ENV

from .conftest import BrokerUnderTest, broker_under_test, s3_client
from .test_approvals import WRITE, CountingProvider

pytestmark = pytest.mark.both_stores


@pytest.fixture
def counted() -> CountingProvider:
    return CountingProvider(None)


@pytest.fixture
def jb(emulator: Any, tmp_path: Path, counted: CountingProvider, store_url: str) -> Iterator[BrokerUnderTest]:
    def wrap(sts: Any) -> CountingProvider:
        counted.inner = sts
        return counted

    with broker_under_test(emulator, tmp_path, provider=wrap, store_url=store_url) as under_test:
        yield under_test


def _pending(bt: BrokerUnderTest) -> str:
    reply = bt.client.post("/aws/grants", json=bt.grant_body(**WRITE), headers=bt.headers())
    assert reply.json()["status"] == "pending", reply.text
    return str(reply.json()["grant_id"])


def _status(bt: BrokerUnderTest, grant_id: str) -> str:
    with bt.broker.deps.store.unit_of_work() as uow:
        return uow.get_grant(grant_id).status.value


def _mint_jobs(bt: BrokerUnderTest, grant_id: str) -> list[Any]:
    with bt.broker.deps.store.unit_of_work() as uow:
        return uow.list_deliveries(grant_id=grant_id, kinds=(MINT,))


def test_the_approve_command_records_the_decision_and_never_calls_the_cloud(
        jb: BrokerUnderTest, counted: CountingProvider, tmp_path: Path) -> None:
    grant_id = _pending(jb)
    config = tmp_path / "broker.yaml"
    config.write_text(yaml.safe_dump(jb.raw_config))
    # The approver's shell has no AWS login at all: minting there would fail the grant for good.
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_CONFIG_FILE=str(tmp_path / "none"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
               AWS_EC2_METADATA_DISABLED="true")
    # The broker's own master key: on PostgreSQL a process without the shared key is refused.
    env[MASTER_KEY_ENV] = base64.b64encode(jb.master_key).decode()
    done = subprocess.run(
        [sys.executable, "-m", "cloud_broker", "approve", grant_id, "--approver", "alice", "--wait", "1",
         "--config", str(config), "--db", jb.db_url, "--state-dir", str(tmp_path / "cli")],
        capture_output=True, text=True, env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "approved; the broker mints it" in done.stdout and "no broker process has minted it yet" in done.stderr
    assert _status(jb, grant_id) == "minting" and counted.mints == 0

    assert jb.broker.jobs.run_due() == 1  # the broker process, with the broker's identity
    assert _status(jb, grant_id) == "active" and counted.mints == 1
    creds = jb.client.post(f"/aws/grants/{grant_id}/credentials", params={"agent_id": jb.agent_id},
                           headers=jb.headers()).json()["credentials"]
    s3_client(jb, creds).put_object(Bucket="reports", Key="uploads/by-the-broker.txt", Body=b"ok")


def test_an_approval_in_a_broker_process_mints_at_once(jb: BrokerUnderTest, counted: CountingProvider) -> None:
    grant = jb.broker.approvals.approve(_pending(jb), "alice")
    assert grant.status.value == "active" and counted.mints == 1
    assert [job.status for job in _mint_jobs(jb, grant.grant_id)] == ["delivered"]
    assert jb.broker.jobs.run_due() == 0 and counted.mints == 1


def test_a_mint_job_claimed_again_after_a_crash_fails_the_grant_instead_of_minting_twice(
        jb: BrokerUnderTest, counted: CountingProvider) -> None:
    grant_id = _pending(jb)
    jb.broker.approvals.approve(grant_id, "alice", mint_now=False)
    [job] = _mint_jobs(jb, grant_id)
    # A process claimed it and got as far as the cloud (attempts=1 is written before STS), then died.
    claimed = jb.broker.jobs.claim(job, jb.clock())
    assert claimed is not None
    with jb.broker.deps.store.unit_of_work() as uow:
        uow.update_delivery(replace(claimed, attempts=1))
    jb.clock.offset += timedelta(minutes=2)  # past the lease
    assert jb.broker.jobs.run_due() == 1
    with jb.broker.deps.store.unit_of_work() as uow:
        grant = uow.get_grant(grant_id)
    assert grant.status.value == "failed" and grant.denial_reason == INTERRUPTED and counted.mints == 0
    assert [j.status for j in _mint_jobs(jb, grant_id)] == ["failed"]


def test_an_approval_no_broker_mints_is_failed_with_a_reason(jb: BrokerUnderTest, counted: CountingProvider) -> None:
    grant_id = _pending(jb)
    jb.broker.approvals.approve(grant_id, "alice", mint_now=False)
    jb.broker.sweeper.sweep()
    assert _status(jb, grant_id) == "minting"  # still waiting for a broker
    jb.clock.offset += MINT_WAIT + timedelta(seconds=1)
    assert jb.broker.sweeper.sweep()["failed"] == 1
    with jb.broker.deps.store.unit_of_work() as uow:
        assert uow.get_grant(grant_id).denial_reason == NOBODY_MINTED
    assert [j.status for j in _mint_jobs(jb, grant_id)] == ["failed"]
    assert jb.broker.jobs.run_due() == 0 and counted.mints == 0


def test_a_cli_revocation_leaves_the_cloud_side_to_the_broker(jb: BrokerUnderTest) -> None:
    grant_id = jb.client.post("/aws/grants", json=jb.grant_body(), headers=jb.headers()).json()["grant_id"]
    jb.broker.approvals.revoke(grant_id, "alice", "incident", cloud_now=False)
    assert jb.broker.revocations.state(grant_id).revoked_in_cloud == "pending"  # type: ignore[union-attr]
    assert jb.broker.jobs.run_due() == 1
    assert jb.broker.revocations.state(grant_id).revoked_in_cloud is True  # type: ignore[union-attr]
