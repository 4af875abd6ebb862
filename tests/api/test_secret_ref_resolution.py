"""``POST /secret-refs/resolve`` and ``credentials_delivery: runtime_only`` against a real broker
in this process (AWS emulator, SQLite): who may resolve a pointer, when, what the trail keeps,
and what ``*_get_credentials`` answers instead of values."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from cloud_broker.domain.delivery import ResolveMechanism
from tests.api.conftest import BrokerUnderTest, broker_under_test, s3_client

RESOLVE = "/secret-refs/resolve"


def _runtime_only(raw: dict[str, Any]) -> None:
    raw["teams"][0]["credentials_delivery"] = "runtime_only"


@pytest.fixture
def rt(emulator: Any, tmp_path: Path) -> Iterator[BrokerUnderTest]:
    with broker_under_test(emulator, tmp_path, edit_config=_runtime_only) as under_test:
        yield under_test


def _grant(bt: BrokerUnderTest, agent_id: str | None = None) -> dict[str, Any]:
    body = bt.grant_body(**({"agent_id": agent_id} if agent_id else {}))
    reply = bt.client.post("/aws/grants", json=body, headers=bt.headers())
    assert reply.status_code == 200 and reply.json()["status"] == "active", reply.text
    return reply.json()


def _resolve(bt: BrokerUnderTest, ref: str, agent_id: str | None = None, host: str = "host-a",
             mechanism: str = "credential_process") -> Any:
    body = {"secret_ref": ref, "agent_id": agent_id or bt.agent_id, "mechanism": mechanism}
    return bt.client.post(RESOLVE, json=body, headers=bt.headers(host))


def _audit(bt: BrokerUnderTest, grant_id: str) -> list[Any]:
    with bt.broker.deps.store.unit_of_work() as uow:
        return uow.list_audit(grant_id=grant_id)


def test_the_grants_own_agent_resolves_its_pointer_into_working_credentials(rt: BrokerUnderTest) -> None:
    grant = _grant(rt)
    reply = _resolve(rt, grant["secret_ref"], mechanism="exec")
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["grant_id"] == grant["grant_id"] and body["family"] == "aws" and body["target"] == "123456789012"
    assert body["expires_at"] == grant["expires_at"]
    listed = s3_client(rt, body["credentials"]).list_objects_v2(Bucket="reports")
    assert "today.csv" in [o["Key"] for o in listed["Contents"]]


def test_each_resolution_is_an_audit_row_naming_agent_grant_and_mechanism_and_no_value(rt: BrokerUnderTest) -> None:
    grant = _grant(rt)
    values = _resolve(rt, grant["secret_ref"], mechanism="aws_container_endpoint").json()["credentials"]
    _resolve(rt, grant["secret_ref"], mechanism="credential_process")
    rows = [e for e in _audit(rt, grant["grant_id"]) if e.event == "credentials.resolved"]
    assert [r.detail["mechanism"] for r in rows] == ["aws_container_endpoint", "credential_process"]
    assert all(r.agent_id == rt.agent_id and r.actor == f"agent:{rt.agent_id} via host:host-a" for r in rows)
    trail = json.dumps([e.__dict__ for e in _audit(rt, grant["grant_id"])], default=str)
    for value in values.values():
        assert value not in trail


@pytest.mark.parametrize("ref", [
    "secret_ref://aws/runs/not-a-uuid/also-not",
    "secret_ref://aws/runs/{run}/{grant}/extra",
    "arn:aws:iam::123456789012:role/x",
    "secret_ref://aws/{run}/{grant}",
])
def test_a_malformed_pointer_is_400_without_echoing_it(rt: BrokerUnderTest, ref: str) -> None:
    grant = _grant(rt)
    run, grant_id = grant["secret_ref"].split("/")[-2:]
    text = ref.format(run=run, grant=grant_id)
    reply = _resolve(rt, text)
    assert reply.status_code == 400 and reply.json()["error_code"] in ("INVALID_SECRET_REF", "INVALID_INPUT")
    assert text not in reply.text


def test_another_agents_pointer_is_404_even_on_the_same_host(rt: BrokerUnderTest) -> None:
    grant = _grant(rt, agent_id=rt.other_agent_id)
    reply = _resolve(rt, grant["secret_ref"])
    assert reply.status_code == 404 and reply.json()["error_code"] == "GRANT_NOT_FOUND"


def test_another_hosts_agent_cannot_be_named(rt: BrokerUnderTest) -> None:
    grant = _grant(rt)
    reply = _resolve(rt, grant["secret_ref"], agent_id=rt.foreign_agent_id, host="host-a")
    assert reply.status_code == 403 and reply.json()["error_code"] == "AGENT_NOT_ALLOWED"
    reply = _resolve(rt, grant["secret_ref"], agent_id=rt.foreign_agent_id, host="host-b")
    assert reply.status_code == 404


def test_a_pointer_with_another_run_is_404(rt: BrokerUnderTest) -> None:
    grant = _grant(rt)
    forged = grant["secret_ref"].replace(grant["secret_ref"].split("/")[-2], str(uuid.uuid4()))
    assert _resolve(rt, forged).status_code == 404


def test_a_pointer_of_another_family_is_404(rt: BrokerUnderTest) -> None:
    grant = _grant(rt)
    assert _resolve(rt, grant["secret_ref"].replace("secret_ref://aws/", "secret_ref://gcp/")).status_code == 404


def test_a_released_grant_is_409_and_an_expired_one_410(rt: BrokerUnderTest) -> None:
    released, expired = _grant(rt), _grant(rt)
    rt.client.post(f"/aws/grants/{released['grant_id']}/release", params={"agent_id": rt.agent_id},
                   headers=rt.headers())
    reply = _resolve(rt, released["secret_ref"])
    assert reply.status_code == 409 and reply.json()["error_code"] == "GRANT_RELEASED"
    rt.clock.offset += timedelta(seconds=901)
    reply = _resolve(rt, expired["secret_ref"])
    assert reply.status_code == 410 and reply.json()["error_code"] == "GRANT_EXPIRED"


def test_resolving_needs_a_host_token(rt: BrokerUnderTest) -> None:
    grant = _grant(rt)
    body = {"secret_ref": grant["secret_ref"], "agent_id": rt.agent_id, "mechanism": "exec"}
    assert rt.client.post(RESOLVE, json=body).status_code == 401


def test_an_unknown_mechanism_is_400(rt: BrokerUnderTest) -> None:
    grant = _grant(rt)
    assert _resolve(rt, grant["secret_ref"], mechanism="telepathy").status_code == 400


def test_runtime_only_get_credentials_answers_the_pointer_and_how_to_resolve_it(rt: BrokerUnderTest) -> None:
    grant = _grant(rt)
    reply = rt.client.post(f"/aws/grants/{grant['grant_id']}/credentials", params={"agent_id": rt.agent_id},
                           headers=rt.headers())
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert "credentials" not in body and body["credentials_delivery"] == "runtime_only"
    assert body["secret_ref"] == grant["secret_ref"] and body["expires_at"] == grant["expires_at"]
    assert body["resolve"]["credential_process"] == f"cloud-broker credential-process {grant['secret_ref']}"
    assert "AWS_CONTAINER_CREDENTIALS_FULL_URI" in body["resolve"]["local_endpoint_sets"]
    assert not [e for e in _audit(rt, grant["grant_id"]) if e.event == "credentials.read"]
    values = _resolve(rt, grant["secret_ref"]).json()["credentials"]
    assert all(value not in reply.text for value in values.values())


def test_runtime_only_still_refuses_released_grants_on_get_credentials(rt: BrokerUnderTest) -> None:
    grant = _grant(rt)
    rt.client.post(f"/aws/grants/{grant['grant_id']}/release", params={"agent_id": rt.agent_id}, headers=rt.headers())
    reply = rt.client.post(f"/aws/grants/{grant['grant_id']}/credentials", params={"agent_id": rt.agent_id},
                           headers=rt.headers())
    assert reply.status_code == 409


def test_inventory_says_how_credentials_are_delivered(rt: BrokerUnderTest, bt: BrokerUnderTest) -> None:
    for under_test, expected in ((rt, "runtime_only"), (bt, None)):
        reply = under_test.client.get("/aws/inventory", params={"agent_id": under_test.agent_id},
                                      headers=under_test.headers())
        assert reply.json().get("credentials_delivery") == expected and reply.json()["accounts"]


def test_inline_teams_keep_todays_reply(bt: BrokerUnderTest) -> None:
    grant = _grant(bt)
    reply = bt.client.post(f"/aws/grants/{grant['grant_id']}/credentials", params={"agent_id": bt.agent_id},
                           headers=bt.headers())
    assert set(reply.json()["credentials"]) == {"access_key_id", "secret_access_key", "session_token"}
    assert "credentials_delivery" not in reply.json()


def test_resolutions_per_agent_are_bounded_per_minute_and_a_refusal_writes_nothing(
        emulator: Any, tmp_path: Path) -> None:
    """Each resolution is an audit row that stays forever: a loop over the resolver is refused
    past broker.max_resolutions_per_agent_per_minute, for that agent only, until the minute passes."""
    from datetime import timedelta

    def capped(raw: dict[str, Any]) -> None:
        _runtime_only(raw)
        raw.setdefault("broker", {})["max_resolutions_per_agent_per_minute"] = 3

    with broker_under_test(emulator, tmp_path, edit_config=capped) as bt:
        grant, other = _grant(bt), _grant(bt, agent_id=bt.other_agent_id)
        assert [_resolve(bt, grant["secret_ref"]).status_code for _ in range(3)] == [200, 200, 200]
        before = bt.counts()
        refused = _resolve(bt, grant["secret_ref"])
        assert refused.status_code == 429 and refused.json()["error_code"] == "TOO_MANY_RESOLUTIONS"
        assert "credentials" not in refused.json() and bt.counts() == before  # no value, no row
        assert _resolve(bt, other["secret_ref"], agent_id=bt.other_agent_id).status_code == 200
        bt.clock.offset += timedelta(seconds=61)
        assert _resolve(bt, grant["secret_ref"]).status_code == 200


@pytest.mark.parametrize("store_kind", ["sqlite", "postgresql"])
def test_resolutions_racing_through_two_processes_never_pass_the_cap(
        emulator: Any, tmp_path: Path, store_url: str) -> None:
    """The count and the audit row it allows are one unit of work, under the agent's lock on
    PostgreSQL: eight resolutions at once, half through a second broker on the same store,
    leave exactly the cap's rows."""
    import dataclasses
    import threading

    from cloud_broker.service.broker import Broker
    from cloud_broker.store.sql import SqlStore

    def capped(raw: dict[str, Any]) -> None:
        _runtime_only(raw)
        raw.setdefault("broker", {})["max_resolutions_per_agent_per_minute"] = 2

    with broker_under_test(emulator, tmp_path, edit_config=capped, store_url=store_url) as bt:
        grant = _grant(bt)
        other_store = SqlStore.open(store_url)
        brokers = [bt.broker, Broker(dataclasses.replace(bt.broker.deps, store=other_store))]
        gate, outcomes = threading.Barrier(8), []

        def resolve(broker: Broker) -> None:
            gate.wait()
            try:
                broker.secret_refs.resolve("host-a", bt.agent_id, grant["secret_ref"], ResolveMechanism.CREDENTIAL_PROCESS)
                outcomes.append("resolved")
            except Exception as exc:  # noqa: BLE001 - the refusal is the point
                outcomes.append(type(exc).__name__)

        threads = [threading.Thread(target=resolve, args=(brokers[i % 2],)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        other_store.engine.dispose()
        assert sorted(outcomes) == ["TooManyRequests"] * 6 + ["resolved"] * 2
        assert [row.event for row in _audit(bt, grant["grant_id"])].count("credentials.resolved") == 2
