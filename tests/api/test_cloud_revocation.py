"""Release and revoke never fail after the fact: the cloud side is a recorded, retried job,
and every reply says truthfully where it stands."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from cloud_broker.errors import ProviderError
from cloud_broker.providers.base import RevokeResult
from cloud_broker.service.jobs import MAX_ATTEMPTS, MAX_DELAY
from cloud_broker.service.revocation import CLOUD_REVOKE

from .conftest import BrokerUnderTest, PassThrough, broker_under_test

pytestmark = pytest.mark.both_stores


class FlakyRevoke(PassThrough):
    """The real STS provider whose revocation fails the first ``failures`` times, as an
    unreachable cloud or a throttled API would."""

    def __init__(self) -> None:
        super().__init__()
        self.failures = 0
        self.calls = 0
        self.error: Exception = ProviderError("IAM unreachable", code="AWS_UNREACHABLE", retryable=True)
        self._lock = threading.Lock()

    def revoke(self, *args: Any) -> RevokeResult:
        with self._lock:
            self.calls += 1
            failing = self.calls <= self.failures
        if failing:
            raise self.error
        result: RevokeResult = self.inner.revoke(*args)
        return result


@pytest.fixture
def flaky() -> FlakyRevoke:
    return FlakyRevoke()


@pytest.fixture
def fb(emulator: Any, tmp_path: Path, flaky: FlakyRevoke, store_url: str) -> Iterator[BrokerUnderTest]:
    def wrap(sts: Any) -> FlakyRevoke:
        flaky.inner = sts
        return flaky

    with broker_under_test(emulator, tmp_path, provider=wrap, store_url=store_url) as under_test:
        yield under_test


def _active(bt: BrokerUnderTest) -> str:
    reply = bt.client.post("/aws/grants", json=bt.grant_body(), headers=bt.headers())
    assert reply.json()["status"] == "active", reply.text
    return str(reply.json()["grant_id"])


def _release(bt: BrokerUnderTest, grant_id: str) -> Any:
    return bt.client.post(f"/aws/grants/{grant_id}/release", params={"agent_id": bt.agent_id}, headers=bt.headers())


def _events(bt: BrokerUnderTest, grant_id: str) -> list[str]:
    with bt.broker.deps.store.unit_of_work() as uow:
        return [row.event for row in uow.list_audit(grant_id=grant_id)]


def _run_jobs_later(bt: BrokerUnderTest) -> int:
    bt.clock.offset += MAX_DELAY
    return bt.broker.jobs.run_due()


def test_a_cloud_failure_after_the_release_commits_is_a_pending_step_not_an_error(
        fb: BrokerUnderTest, flaky: FlakyRevoke) -> None:
    grant_id = _active(fb)
    flaky.failures = 1
    reply = _release(fb, grant_id)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["status"] == "revoked" and body["revoked_in_cloud"] == "pending"
    assert "will retry" in body["cloud_revocation"] and "IAM unreachable" in body["cloud_revocation"]
    again = _release(fb, grant_id).json()  # stable: the same truth until the job settles
    assert again["status"] == "revoked" and again["revoked_in_cloud"] == "pending"
    credentials = fb.client.post(f"/aws/grants/{grant_id}/credentials", params={"agent_id": fb.agent_id},
                                 headers=fb.headers())
    assert credentials.status_code == 409  # the release itself stands

    assert _run_jobs_later(fb) == 1
    settled = _release(fb, grant_id).json()
    assert settled["revoked_in_cloud"] is True  # a Deny on the role, once the retry got through
    assert f"AWS now refuses session cb-{grant_id}" in settled["cloud_revocation"]
    assert _events(fb, grant_id)[-2:] == ["grant.released", "grant.cloud_revocation"]


def test_an_unexpected_exception_in_the_provider_is_recorded_and_retried(fb: BrokerUnderTest, flaky: FlakyRevoke) -> None:
    grant_id = _active(fb)
    flaky.failures, flaky.error = 1, RuntimeError("socket closed")
    reply = _release(fb, grant_id)
    assert reply.status_code == 200 and reply.json()["revoked_in_cloud"] == "pending"
    assert "internal error: RuntimeError" in reply.json()["cloud_revocation"]
    assert "socket closed" not in reply.text  # exception text never reaches the wire
    assert _run_jobs_later(fb) == 1 and _release(fb, grant_id).json()["revoked_in_cloud"] is True


def test_a_revocation_the_cloud_keeps_refusing_is_retried_while_the_credentials_live_then_given_up(
        fb: BrokerUnderTest, flaky: FlakyRevoke) -> None:
    """Eight attempts would be spent in about two minutes; an IAM outage longer than that must not
    leave a session valid for its whole TTL. The job backs off to every five minutes and keeps
    trying until the credentials have expired anyway (TTL 900 s, plus five minutes of skew)."""
    grant_id = _active(fb)
    flaky.failures = 1_000
    assert _release(fb, grant_id).json()["revoked_in_cloud"] == "pending"
    for _ in range(40):  # past the default budget of attempts, well before the grant expires
        fb.clock.offset += timedelta(seconds=30)
        fb.broker.jobs.run_due()
        if flaky.calls > MAX_ATTEMPTS:
            break
    assert flaky.calls > MAX_ATTEMPTS and fb.clock.offset < timedelta(minutes=10)
    assert _release(fb, grant_id).json()["revoked_in_cloud"] == "pending"  # still trying
    calls = flaky.calls
    for _ in range(6):  # past expiry plus skew
        _run_jobs_later(fb)
    final = _release(fb, grant_id).json()
    assert final["revoked_in_cloud"] is False and "failed after" in final["cloud_revocation"]
    assert _events(fb, grant_id)[-1] == "grant.cloud_revocation_failed"
    assert flaky.calls > calls and _run_jobs_later(fb) == 0


def test_an_approvers_revocation_survives_a_cloud_failure(fb: BrokerUnderTest, flaky: FlakyRevoke) -> None:
    grant_id = _active(fb)
    flaky.failures = 1
    revoked = fb.broker.approvals.revoke(grant_id, "alice", "incident 42")
    assert revoked.status.value == "revoked"
    assert fb.broker.revocations.state(grant_id).revoked_in_cloud == "pending"  # type: ignore[union-attr]
    assert _run_jobs_later(fb) == 1
    assert fb.broker.revocations.state(grant_id).revoked_in_cloud is True  # type: ignore[union-attr]


def test_withdrawing_a_pending_request_needs_no_cloud_step(fb: BrokerUnderTest) -> None:
    pending = fb.client.post("/aws/grants", json=fb.grant_body(actions=["s3:PutObject"]), headers=fb.headers())
    grant_id = pending.json()["grant_id"]
    body = _release(fb, grant_id).json()
    assert body["status"] == "revoked" and "revoked_in_cloud" not in body
    with fb.broker.deps.store.unit_of_work() as uow:
        assert uow.list_deliveries(grant_id=grant_id, kinds=(CLOUD_REVOKE,)) == []


def test_a_provider_that_keeps_crashing_is_given_up_audited_and_not_called_a_refusal(
        fb: BrokerUnderTest, flaky: FlakyRevoke) -> None:
    grant_id = _active(fb)
    flaky.failures, flaky.error = MAX_ATTEMPTS, RuntimeError("socket closed")
    _release(fb, grant_id)
    for _ in range(MAX_ATTEMPTS - 1):
        _run_jobs_later(fb)
    assert _events(fb, grant_id)[-1] == "grant.cloud_revocation_failed"
    final = _release(fb, grant_id).json()
    assert final["revoked_in_cloud"] is False and "internal error: RuntimeError" in final["cloud_revocation"]
