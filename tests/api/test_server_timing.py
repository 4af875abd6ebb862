"""A grant reply says how long the cloud provider took (``Server-Timing``), and only that.

The provider's time is read from a counter that only the provider moves, so the header must
name exactly what the provider spent: none of the broker's own work, and no wall time."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloud_broker.errors import ProviderError
from cloud_broker.service import minting

from .conftest import BrokerUnderTest, PassThrough, broker_under_test
from .test_approvals import WRITE

PROVIDER_SECONDS = 0.25


class Ticks:
    """Stands in for the ``time`` module in ``service.minting``: a counter, not a clock."""

    def __init__(self) -> None:
        self.now = 1000.0

    def perf_counter(self) -> float:
        return self.now


class TimedSts(PassThrough):
    """The real STS, moving the counter as if its call took ``PROVIDER_SECONDS``; or refusing."""

    def __init__(self, ticks: Ticks) -> None:
        super().__init__()
        self.ticks, self.refuse = ticks, False

    def mint(self, plan: Any) -> Any:
        self.ticks.now += PROVIDER_SECONDS
        if self.refuse:
            raise ProviderError("STS AssumeRole failed: AccessDenied", code="AWS_ACCESSDENIED")
        return super().mint(plan)


@pytest.fixture
def timed(emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[BrokerUnderTest, TimedSts]]:
    ticks = Ticks()
    monkeypatch.setattr(minting, "time", ticks)
    sts = TimedSts(ticks)

    def wrap(inner: Any) -> TimedSts:
        sts.inner = inner
        return sts

    with broker_under_test(emulator, tmp_path, provider=wrap) as bt:
        yield bt, sts


def _post(bt: BrokerUnderTest, **overrides: Any) -> Any:
    return bt.client.post("/aws/grants", json=bt.grant_body(**overrides), headers=bt.headers())


def test_a_minted_grant_names_the_providers_time_and_nothing_else(timed: tuple[BrokerUnderTest, TimedSts]) -> None:
    bt, _ = timed
    reply = _post(bt)
    assert reply.status_code == 200 and reply.json()["status"] == "active"
    assert reply.headers["Server-Timing"] == "provider;dur=250.000"


def test_a_cloud_refusal_is_timed_too(timed: tuple[BrokerUnderTest, TimedSts]) -> None:
    bt, sts = timed
    sts.refuse = True
    reply = _post(bt)
    assert reply.json()["status"] == "failed"
    assert reply.headers["Server-Timing"] == "provider;dur=250.000"


def test_a_request_that_calls_no_provider_has_no_timing(timed: tuple[BrokerUnderTest, TimedSts]) -> None:
    bt, _ = timed
    for overrides, status in (({**WRITE}, "pending"), ({"actions": ["iam:PassRole"]}, "denied")):
        reply = _post(bt, **overrides)
        assert reply.json()["status"] == status
        assert "Server-Timing" not in reply.headers
