"""What one agent may leave behind: a rate of requests, compact records of refused ones, and
mints that are slow but alive are not taken for dead."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from cloud_broker.domain.limits import EXPLAINED_CHARACTERS, MAX_STORED_DENIED_RESOURCE

from .conftest import BrokerUnderTest, broker_under_test
from .test_approvals import WRITE

LONG = ["arn:aws:s3:::reports/" + f"{i:03d}" + "x" * 1990 for i in range(100)]


def _rate(raw: dict[str, Any]) -> None:
    raw["broker"] = {"max_requests_per_agent_per_minute": 3}


@pytest.fixture
def rated(emulator: Any, tmp_path: Path) -> Iterator[BrokerUnderTest]:
    with broker_under_test(emulator, tmp_path, _rate) as under_test:
        yield under_test


def _post(bt: BrokerUnderTest, **overrides: Any) -> Any:
    return bt.client.post("/aws/grants", json=bt.grant_body(**overrides), headers=bt.headers())


def test_an_agent_filing_too_fast_is_refused_and_nothing_is_written(rated: BrokerUnderTest) -> None:
    for actions in (["s3:GetObject"], ["iam:PassRole"], ["s3:PutObject"]):  # active, denied, pending: all count
        assert _post(rated, actions=actions).status_code == 200
    before = rated.counts()
    refused = _post(rated, actions=["iam:PassRole"])
    assert refused.status_code == 429 and refused.json()["error_code"] == "TOO_MANY_REQUESTS"
    assert "max_requests_per_agent_per_minute allows 3" in refused.json()["error"]
    assert rated.counts() == before
    rated.clock.offset += timedelta(seconds=61)
    assert _post(rated, actions=["iam:PassRole"]).status_code == 200


def test_a_refused_request_is_stored_compactly(bt: BrokerUnderTest) -> None:
    reply = _post(bt, actions=["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], resources=LONG)
    assert reply.json()["status"] == "denied"
    grant_id = reply.json()["grant_id"]
    with bt.broker.deps.store.unit_of_work() as uow:
        grant = uow.get_grant(grant_id)
        [requested] = [row for row in uow.list_audit(grant_id=grant_id) if row.event == "grant.requested"]
    assert all(len(r) <= MAX_STORED_DENIED_RESOURCE for r in grant.scope["resources"]) and len(grant.scope["resources"]) == 100
    assert "resources" not in requested.detail and len(requested.detail["scope_sha256"]) == 64
    shown = requested.detail["explanation"]
    assert sum(len(p["resource"]) for name in ("covered", "uncovered", "not_applicable") for p in shown[name]) \
        <= EXPLAINED_CHARACTERS
    assert len(requested.reason or "") < 4_000 and len(grant.denial_reason or "") < 4_000


class SlowSts:
    """STS that answers late, as a throttled one retried by the SDK does."""

    def __init__(self) -> None:
        self.inner: Any = None
        self.entered, self.gate = threading.Event(), threading.Event()
        self.calls = 0

    def mint(self, request: Any) -> Any:
        self.calls += 1
        self.entered.set()
        self.gate.wait(30)
        return self.inner.mint(request)

    def revoke(self, *args: Any) -> Any:
        return self.inner.revoke(*args)


def test_a_slow_mint_is_not_taken_for_a_dead_one(emulator: Any, tmp_path: Path) -> None:
    slow = SlowSts()

    def wrap(sts: Any) -> SlowSts:
        slow.inner = sts
        return slow

    with broker_under_test(emulator, tmp_path, provider=wrap) as bt:
        grant_id = _post(bt, **WRITE).json()["grant_id"]
        approving = threading.Thread(target=bt.broker.approvals.approve, args=(grant_id, "alice"))
        approving.start()
        assert slow.entered.wait(30)
        bt.clock.offset += timedelta(seconds=90)  # longer than a message's lease: STS is still answering
        assert bt.broker.jobs.run_due() == 0
        slow.gate.set()
        approving.join(30)
        with bt.broker.deps.store.unit_of_work() as uow:
            assert uow.get_grant(grant_id).status.value == "active"
        assert slow.calls == 1
