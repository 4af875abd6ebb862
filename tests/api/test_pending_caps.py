"""Caps on open pending grants, per run and per agent, through the real API: a request past a
cap is refused with 429 and writes nothing; repeats, expiry and withdrawal behave as promised."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import BrokerUnderTest, broker_under_test

pytestmark = pytest.mark.both_stores

RUN_CAP, AGENT_CAP = 2, 3


def _caps(raw: dict[str, Any]) -> None:
    raw["broker"] = {"max_pending_per_run": RUN_CAP, "max_pending_per_agent": AGENT_CAP}


@pytest.fixture
def capped(emulator: Any, tmp_path: Path, store_url: str) -> Iterator[BrokerUnderTest]:
    with broker_under_test(emulator, tmp_path, _caps, store_url=store_url) as under_test:
        yield under_test


def _ask(bt: BrokerUnderTest, run_id: str, agent_id: str | None = None, name: str | None = None) -> Any:
    """A write the ceiling routes to an approver; ``name`` makes it differ from the others."""
    body = bt.grant_body(run_id=run_id, actions=["s3:PutObject"],
                         resources=[f"arn:aws:s3:::reports/{name or uuid.uuid4().hex[:8]}/*"])
    if agent_id is not None:
        body["agent_id"] = agent_id
    return bt.client.post("/aws/grants", json=body, headers=bt.headers())


def _pending(bt: BrokerUnderTest, run_id: str, **kwargs: Any) -> dict[str, Any]:
    reply = _ask(bt, run_id, **kwargs)
    assert reply.status_code == 200 and reply.json()["status"] == "pending", reply.text
    return reply.json()  # type: ignore[no-any-return]


def _refused(reply: Any, holder: str, count: int, cap: int, field: str) -> None:
    assert reply.status_code == 429, reply.text
    body = reply.json()
    assert body["error_code"] == "TOO_MANY_PENDING"
    assert body["error"].startswith("TOO_MANY_PENDING: ")
    assert f"this {holder} already has {count} requests waiting for approval" in body["error"]
    assert f"broker.{field} allows {cap}" in body["error"]
    assert "aws_release_access" in body["error"] and "wait for an approver" in body["error"]


def test_a_run_at_its_cap_is_refused_and_nothing_is_written(capped: BrokerUnderTest) -> None:
    run = str(uuid.uuid4())
    for _ in range(RUN_CAP):
        _pending(capped, run)
    before = capped.counts()
    _refused(_ask(capped, run), "run", RUN_CAP, RUN_CAP, "max_pending_per_run")
    assert capped.counts() == before
    # Another run of the same agent still has room under the agent's cap.
    _pending(capped, str(uuid.uuid4()))


def test_an_agent_at_its_cap_is_refused_in_any_run_and_other_agents_are_not(capped: BrokerUnderTest) -> None:
    for _ in range(AGENT_CAP):
        _pending(capped, str(uuid.uuid4()))
    before = capped.counts()
    _refused(_ask(capped, str(uuid.uuid4())), "agent", AGENT_CAP, AGENT_CAP, "max_pending_per_agent")
    assert capped.counts() == before
    _pending(capped, str(uuid.uuid4()), agent_id=capped.other_agent_id)


def test_a_repeat_at_the_cap_returns_the_pending_grant(capped: BrokerUnderTest) -> None:
    run = str(uuid.uuid4())
    first = _pending(capped, run, name="first")
    _pending(capped, run)
    assert _ask(capped, run).status_code == 429
    again = _pending(capped, run, name="first")
    assert again["grant_id"] == first["grant_id"] and again["repeated_request"] is True


def test_requests_that_are_not_pending_are_not_capped(capped: BrokerUnderTest) -> None:
    run = str(uuid.uuid4())
    for _ in range(RUN_CAP):
        _pending(capped, run)
    assert _ask(capped, run).status_code == 429
    read = capped.client.post("/aws/grants", json=capped.grant_body(run_id=run), headers=capped.headers())
    assert read.status_code == 200 and read.json()["status"] == "active"


def test_expired_pending_grants_free_the_cap_before_any_sweep(capped: BrokerUnderTest) -> None:
    run = str(uuid.uuid4())
    for _ in range(RUN_CAP):
        _pending(capped, run)
    assert _ask(capped, run).status_code == 429
    capped.clock.offset += timedelta(seconds=capped.broker.deps.config.broker.pending_timeout_seconds)
    _pending(capped, run)


def test_a_withdrawn_request_frees_its_place(capped: BrokerUnderTest) -> None:
    run = str(uuid.uuid4())
    first = _pending(capped, run)
    _pending(capped, run)
    assert _ask(capped, run).status_code == 429
    released = capped.client.post(f"/aws/grants/{first['grant_id']}/release", params={"agent_id": capped.agent_id},
                                  headers=capped.headers())
    assert released.json()["status"] == "revoked"
    _pending(capped, run)


def test_requests_racing_at_the_cap_never_exceed_it(capped: BrokerUnderTest) -> None:
    racers, run = 6, str(uuid.uuid4())
    barrier, statuses = threading.Barrier(racers), []
    token = capped.headers()
    bodies = [capped.grant_body(run_id=run, actions=["s3:PutObject"], resources=[f"arn:aws:s3:::reports/{i}/*"])
              for i in range(racers)]

    def file_one(body: dict[str, Any]) -> None:
        barrier.wait()
        statuses.append(capped.client.post("/aws/grants", json=body, headers=token).status_code)

    threads = [threading.Thread(target=file_one, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(statuses) == [200] * RUN_CAP + [429] * (racers - RUN_CAP)
    with capped.broker.deps.store.unit_of_work() as uow:
        assert uow.count_open_pending(capped.agent_id, run, capped.clock()).run == RUN_CAP


@pytest.mark.parametrize("broker, message", [
    ({"max_pending_per_run": 0}, "broker.max_pending_per_run: must be at least 1"),
    ({"max_pending_per_agent": 101}, "broker.max_pending_per_agent: must be at most 100"),
    ({"max_pending_per_run": 10, "max_pending_per_agent": 5}, r"max_pending_per_run \(10\) cannot exceed"),
    ({"max_pages_per_window": 0}, "broker.max_pages_per_window: must be at least 1"),
    ({"page_window_seconds": 30}, "broker.page_window_seconds: must be at least 60"),
])
def test_caps_and_page_limits_outside_their_range_are_refused(broker: dict[str, Any], message: str) -> None:
    from cloud_broker.config import parse_config
    from cloud_broker.errors import ConfigError
    from tests.api.conftest import config_yaml

    raw = config_yaml("arn:aws:iam::123456789012:role/broker", "sha256:" + "0" * 64,
                      {k: str(uuid.uuid4()) for k in ("agent", "other", "foreign")})
    raw["broker"] = broker
    with pytest.raises(ConfigError, match=message):
        parse_config(raw)
