"""After a full flow, no secret appears in logs, audit rows or the database file."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict

import pytest

from tests.api.conftest import BrokerUnderTest


def test_no_secret_in_logs_audit_or_database_after_a_full_flow(bt: BrokerUnderTest, caplog: pytest.LogCaptureFixture,
                                                               capfd: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    token = bt.client.post("/host/exchange", json={"host_key": bt.host_key}).json()["token"]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    grant = bt.client.post("/aws/grants", json=bt.grant_body(), headers=headers).json()
    creds = bt.client.post(f"/aws/grants/{grant['grant_id']}/credentials", params={"agent_id": bt.agent_id},
                           headers=headers).json()["credentials"]
    pending = bt.client.post("/aws/grants", json=bt.grant_body(actions=["s3:PutObject"]), headers=headers).json()
    bt.broker.approvals.approve(pending["grant_id"], "alice")
    with bt.broker.deps.store.unit_of_work() as uow:
        approved_sealed = uow.find_secret(pending["grant_id"])
    assert approved_sealed is not None
    approved = json.loads(bt.broker.deps.vault.open(pending["grant_id"], approved_sealed))
    bt.client.post(f"/aws/grants/{grant['grant_id']}/release", params={"agent_id": bt.agent_id}, headers=headers)

    secrets = [bt.host_key, token, *creds.values(), *approved.values()]
    with bt.broker.deps.store.unit_of_work() as uow:
        audit_text = json.dumps([asdict(e) for e in uow.list_audit()], default=str)
    out, err = capfd.readouterr()
    database = b"".join(p.read_bytes() for p in bt.db_path.parent.glob("broker.db*"))
    for secret in secrets:
        assert secret not in caplog.text
        assert secret not in out and secret not in err
        assert secret not in audit_text
        assert secret.encode() not in database
    assert "grant.minted" in audit_text and "credentials.read" in audit_text and "grant.released" in audit_text
