"""STS throttling: retried with backoff, and a grant that still cannot be minted ends ``failed``.

moto never throttles, so these tests extend the emulator in-process: moto's STS backend is
wrapped to answer ``Throttling`` (HTTP 400, as AWS does) for the first calls.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from cloud_broker.families.aws.provider import AwsStsProvider
from cloud_broker.families.aws.wire import GrantCreateBody
from cloud_broker.service.broker import Broker
from tests.api.conftest import BrokerUnderTest


@pytest.fixture
def throttle(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    from moto.sts.exceptions import STSClientError
    from moto.sts.models import STSBackend

    state = {"throttle_first": 0, "calls": 0}
    original = STSBackend.assume_role

    def assume_role(self: Any, *args: Any, **kwargs: Any) -> Any:
        state["calls"] += 1
        if state["calls"] <= state["throttle_first"]:
            raise STSClientError("Throttling", "Rate exceeded")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(STSBackend, "assume_role", assume_role)
    # Throttling is not among STS's modelled errors; moto warns while serialising it as asked.
    warnings.filterwarnings("ignore", message="Exception.STSClientError. with code Throttling")
    yield state


def _broker(bt: BrokerUnderTest, max_attempts: int) -> Broker:
    import boto3

    session = boto3.Session(aws_access_key_id=bt.emulator.source_access_key_id,
                            aws_secret_access_key=bt.emulator.source_secret_access_key, region_name="us-east-1")
    provider = AwsStsProvider(session, endpoint_url=bt.emulator.endpoint_url, max_attempts=max_attempts)
    return Broker(replace(bt.broker.deps, providers={"aws": provider}))


def test_throttled_assume_role_is_retried_and_the_grant_minted(bt: BrokerUnderTest, throttle: dict[str, int]) -> None:
    throttle["throttle_first"] = 2
    outcome = _broker(bt, max_attempts=4).access.request("host-a", bt.agent_id, GrantCreateBody(**bt.grant_body()).to_ask())
    assert outcome.grant.status.value == "active"
    assert throttle["calls"] == 3


def test_persistent_throttling_fails_the_grant_with_the_reason_and_no_secret(bt: BrokerUnderTest,
                                                                              throttle: dict[str, int]) -> None:
    throttle["throttle_first"] = 100
    before_secrets = bt.counts()[1]
    outcome = _broker(bt, max_attempts=2).access.request("host-a", bt.agent_id, GrantCreateBody(**bt.grant_body()).to_ask())
    assert outcome.grant.status.value == "failed" and outcome.credential is None
    assert "Throttling" in (outcome.grant.denial_reason or "")
    assert throttle["calls"] == 2
    assert bt.counts()[1] == before_secrets
