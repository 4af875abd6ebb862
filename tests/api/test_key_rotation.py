"""Changing the master key while grants are live: every stored secret is re-sealed under the new
key, the grants' credentials read the same before and after, the old key can then be dropped,
and host tokens signed under the old key verify during the roll and not after it."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from cloud_broker.api.app import create_app
from cloud_broker.api.tokens import SIGNING_KEY_PURPOSE, TokenIssuer
from cloud_broker.cli.key_rotation import RESEALED, ROTATED, Transaction, rotate
from cloud_broker.cli.wiring import Wired, wire
from cloud_broker.errors import Unauthenticated
from cloud_broker.service.broker import Broker
from cloud_broker.settings import Settings
from cloud_broker.vault import MASTER_KEY_ENV, PREVIOUS_KEYS_ENV, SealedSecret, Vault, key_id_of

from .conftest import BrokerUnderTest

pytestmark = pytest.mark.both_stores

NEW_KEY = os.urandom(32)
ACTOR = "operator:test"


def _now() -> datetime:
    return datetime.now(UTC)


def _active_grants(bt: BrokerUnderTest, n: int) -> dict[str, dict[str, str]]:
    """``n`` auto-approved grants, each with the credentials it read before any rotation."""
    grants = {}
    for _ in range(n):
        reply = bt.client.post("/aws/grants", json=bt.grant_body(), headers=bt.headers())
        assert reply.json()["status"] == "active", reply.text
        grants[reply.json()["grant_id"]] = _credentials(bt.client, bt, reply.json()["grant_id"], bt.headers())
    return grants


def _credentials(client: TestClient, bt: BrokerUnderTest, grant_id: str, headers: dict[str, str]) -> Any:
    reply = client.post(f"/aws/grants/{grant_id}/credentials", params={"agent_id": bt.agent_id}, headers=headers)
    return reply.json()["credentials"] if reply.status_code == 200 else reply


@contextmanager
def _broker_with(bt: BrokerUnderTest, vault: Vault) -> Iterator[tuple[TestClient, TokenIssuer]]:
    """A second broker process on ``bt``'s store, holding ``vault``'s keys."""
    tokens = TokenIssuer(vault.derive_key(SIGNING_KEY_PURPOSE), previous_keys=vault.derive_previous_keys(SIGNING_KEY_PURPOSE))
    broker = Broker(replace(bt.broker.deps, vault=vault))
    with TestClient(create_app(broker, tokens), raise_server_exceptions=False) as client:
        yield client, tokens


def _transactions(bt: BrokerUnderTest) -> Transaction:
    return bt.broker.deps.store.unit_of_work  # type: ignore[return-value]  # the SQL store's offer both


def _rows(bt: BrokerUnderTest) -> dict[str, SealedSecret]:
    from sqlalchemy import select

    from cloud_broker.store.tables import grant_secrets

    with bt.broker.deps.store.engine.connect() as c:  # type: ignore[attr-defined]
        return {r.grant_id: SealedSecret(r.key_id, bytes(r.blob)) for r in c.execute(select(grant_secrets))}


def _assert_trail(bt: BrokerUnderTest, old_id: str, new_id: str) -> None:
    """One row per page (2 + 1 rows), then the run's: who, and how many from which key."""
    with bt.broker.deps.store.unit_of_work() as uow:
        rows = [r for r in uow.list_audit() if r.event in (RESEALED, ROTATED)]
    assert [(r.event, r.actor) for r in rows] == [(RESEALED, ACTOR), (RESEALED, ACTOR), (ROTATED, ACTOR)]
    assert rows[0].detail == {"rows": 2, "from_key_ids": {old_id: 2}, "to_key_id": new_id}
    assert rows[1].detail["rows"] == 1
    assert rows[2].detail == {"rows_resealed": 3, "from_key_ids": {old_id: 3}, "to_key_id": new_id,
                              "rows_left_by_key_id": {old_id: 0}}
    trail = repr(rows)
    assert not any(base64.b64encode(k).decode() in trail or k.hex() in trail for k in (bt.master_key, NEW_KEY))


def test_rotation_reseals_every_secret_audits_it_and_the_old_key_can_then_be_dropped(bt: BrokerUnderTest) -> None:
    before = _active_grants(bt, 3)
    old_rows = _rows(bt)
    old_id = key_id_of(bt.master_key)
    assert {s.key_id for s in old_rows.values()} == {old_id}

    done, use = rotate(_transactions(bt), Vault(NEW_KEY, [bt.master_key]), ACTOR, _now, page_size=2)

    assert dict(done.resealed) == {old_id: 3} and not done.unknown_key and not done.unopenable
    assert use.rows == {key_id_of(NEW_KEY): 3} and use.old == {old_id: 0}
    new_rows = _rows(bt)
    assert {s.key_id for s in new_rows.values()} == {key_id_of(NEW_KEY)}
    assert all(new_rows[g].blob != old_rows[g].blob for g in before)
    _assert_trail(bt, old_id, key_id_of(NEW_KEY))
    with _broker_with(bt, Vault(NEW_KEY)) as (client, tokens):  # the old key dropped
        for grant_id, credentials in before.items():
            assert _credentials(client, bt, grant_id, {"Authorization": f"Bearer {tokens.issue('host-a')}"}) == credentials
    again, _ = rotate(_transactions(bt), Vault(NEW_KEY, [bt.master_key]), ACTOR, _now)
    assert not again.resealed, "a second run has nothing left to do"


def test_before_rotation_a_broker_without_the_old_key_fails_closed_with_a_clear_error(bt: BrokerUnderTest) -> None:
    [grant_id] = _active_grants(bt, 1)
    with _broker_with(bt, Vault(NEW_KEY)) as (client, tokens):
        reply = _credentials(client, bt, grant_id, {"Authorization": f"Bearer {tokens.issue('host-a')}"})
    assert reply.status_code == 500 and reply.json()["error_code"] == "VAULT_UNKNOWN_KEY"
    error = reply.json()["error"]
    assert key_id_of(bt.master_key) in error and PREVIOUS_KEYS_ENV in error
    for key in (bt.master_key, NEW_KEY):
        assert base64.b64encode(key).decode() not in reply.text and key.hex() not in reply.text
    assert _rows(bt)[grant_id].key_id == key_id_of(bt.master_key), "nothing was changed"


def test_a_broker_already_on_the_new_key_opens_both_old_and_new_secrets_during_the_roll(bt: BrokerUnderTest) -> None:
    before = _active_grants(bt, 1)
    with _broker_with(bt, Vault(NEW_KEY, [bt.master_key])) as (client, tokens):
        headers = {"Authorization": f"Bearer {tokens.issue('host-a')}"}
        made = client.post("/aws/grants", json=bt.grant_body(), headers=headers).json()["grant_id"]
        for grant_id in (*before, made):
            assert isinstance(_credentials(client, bt, grant_id, headers), dict)
    assert {g: s.key_id for g, s in _rows(bt).items()} == {**{g: key_id_of(bt.master_key) for g in before},
                                                           made: key_id_of(NEW_KEY)}


def test_a_row_released_or_resealed_meanwhile_is_not_overwritten(bt: BrokerUnderTest) -> None:
    """The compare-and-swap: a reseal computed from what was read loses to a writer in between."""
    first, second = _active_grants(bt, 2)
    store, ring = bt.broker.deps.store, Vault(NEW_KEY, [bt.master_key])
    read = _rows(bt)
    bt.client.post(f"/aws/grants/{first}/release", params={"agent_id": bt.agent_id}, headers=bt.headers())
    other_process = ring.reseal(second, read[second])
    with store.unit_of_work() as uow:
        assert uow.reseal_secret(second, read[second], other_process)  # type: ignore[attr-defined]
    with store.unit_of_work() as uow:
        assert not uow.reseal_secret(first, read[first], ring.reseal(first, read[first]))  # type: ignore[attr-defined]
        assert not uow.reseal_secret(second, read[second], ring.reseal(second, read[second]))  # type: ignore[attr-defined]
        # Same key id, other ciphertext: still not the row that was read.
        stale = SealedSecret(other_process.key_id, read[second].blob)
        assert not uow.reseal_secret(second, stale, ring.seal(second, b"{}"))  # type: ignore[attr-defined]
    assert _rows(bt) == {second: other_process}, "the release stands and the other process's ciphertext is kept"


def test_rows_it_cannot_open_are_left_as_they_are_and_reported(bt: BrokerUnderTest) -> None:
    unknown_key = os.urandom(32)
    with bt.broker.deps.store.unit_of_work() as uow:
        uow.put_secret("sealed-elsewhere", Vault(unknown_key).seal("sealed-elsewhere", b"{}"))
        uow.put_secret("moved-here", Vault(bt.master_key).seal("another-grant", b"{}"))
    kept = _rows(bt)
    done, use = rotate(_transactions(bt), Vault(NEW_KEY, [bt.master_key]), ACTOR, _now)
    assert dict(done.unknown_key) == {key_id_of(unknown_key): 1} and done.unopenable == ["moved-here"]
    assert use.old == {key_id_of(bt.master_key): 1, key_id_of(unknown_key): 1}
    assert _rows(bt) == kept


def _wired(bt: BrokerUnderTest, tmp_path: Path, current: bytes, *previous: bytes) -> Wired:
    """A broker process wired as ``serve`` wires it, its keys from the environment."""
    config = tmp_path / "broker.yaml"
    config.write_text(yaml.safe_dump(bt.raw_config))
    env = {MASTER_KEY_ENV: base64.b64encode(current).decode(),
           PREVIOUS_KEYS_ENV: ",".join(base64.b64encode(k).decode() for k in previous)}
    settings = Settings(config_path=config, state_dir=tmp_path / "state", db_url=bt.db_url)
    return wire(settings, providers={}, env=env)


def _polls(wired: Wired, bt: BrokerUnderTest, grant_id: str, token: str) -> int:
    with TestClient(create_app(wired.broker, wired.tokens), raise_server_exceptions=False) as client:
        return client.get(f"/aws/grants/{grant_id}", params={"agent_id": bt.agent_id},
                          headers={"Authorization": f"Bearer {token}"}).status_code


def test_tokens_signed_under_the_old_key_verify_during_the_roll_and_fail_once_it_is_dropped(
        bt: BrokerUnderTest, tmp_path: Path) -> None:
    [grant_id] = _active_grants(bt, 1)
    old, new = bt.master_key, NEW_KEY
    phases = {"before": _wired(bt, tmp_path, old), "next added": _wired(bt, tmp_path, old, new),
              "switched": _wired(bt, tmp_path, new, old), "old dropped": _wired(bt, tmp_path, new)}
    try:
        signed_old = phases["before"].tokens.issue("host-a")
        signed_new = phases["switched"].tokens.issue("host-a")
        assert {name: _polls(w, bt, grant_id, signed_old) for name, w in phases.items()} == {
            "before": 200, "next added": 200, "switched": 200, "old dropped": 401}
        assert {name: _polls(w, bt, grant_id, signed_new) for name, w in phases.items()} == {
            "before": 401, "next added": 200, "switched": 200, "old dropped": 200}
    finally:
        for wired in phases.values():
            wired.broker.deps.store.engine.dispose()  # type: ignore[attr-defined]
    assert not (tmp_path / "state" / "master.key").exists(), "keys from the environment never touch the disk"


def test_an_expired_token_signed_under_a_previous_key_is_refused_as_expired_not_as_forged() -> None:
    old_key, new_key = os.urandom(32), os.urandom(32)
    signed = TokenIssuer(old_key).issue("host-a", now=datetime(2020, 1, 1, tzinfo=UTC))
    with pytest.raises(Unauthenticated) as caught:
        TokenIssuer(new_key, previous_keys=[old_key]).verify_token(signed)
    assert caught.value.code == "TOKEN_EXPIRED"
    with pytest.raises(Unauthenticated) as forged:
        TokenIssuer(new_key, previous_keys=[os.urandom(32)]).verify_token(signed)
    assert forged.value.code == "TOKEN_INVALID"
