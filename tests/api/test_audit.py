"""Every decision and grant transition is in the audit trail, which the database keeps append-only."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.api.conftest import BrokerUnderTest

pytestmark = pytest.mark.both_stores


def _events(bt: BrokerUnderTest, grant_id: str) -> list[tuple[str, str, str | None]]:
    with bt.broker.deps.store.unit_of_work() as uow:
        return [(e.event, e.actor, e.decision) for e in uow.list_audit(grant_id=grant_id)]


def test_auto_approved_grant_records_decision_mint_read_and_release(bt: BrokerUnderTest) -> None:
    headers = {**bt.headers(), "Content-Type": "application/json"}
    grant_id = bt.client.post("/aws/grants", json=bt.grant_body(), headers=headers).json()["grant_id"]
    bt.client.post(f"/aws/grants/{grant_id}/credentials", params={"agent_id": bt.agent_id}, headers=headers)
    bt.client.post(f"/aws/grants/{grant_id}/release", params={"agent_id": bt.agent_id}, headers=headers)
    events = _events(bt, grant_id)
    assert [e[0] for e in events] == ["grant.requested", "grant.minted", "credentials.read", "grant.released",
                                      "grant.cloud_revocation"]
    assert events[0][2] == "auto_approve"
    assert all(bt.agent_id in actor and "host-a" in actor for _, actor, _ in events)


def test_approval_and_denial_name_the_approver(bt: BrokerUnderTest) -> None:
    scope = {"actions": ["s3:PutObject"], "resources": ["arn:aws:s3:::reports/*"]}
    approved = bt.client.post("/aws/grants", json=bt.grant_body(**scope), headers=bt.headers()).json()["grant_id"]
    denied = bt.client.post("/aws/grants", json=bt.grant_body(**scope), headers=bt.headers()).json()["grant_id"]
    bt.broker.approvals.approve(approved, "alice")
    bt.broker.approvals.deny(denied, "alice", "too broad")
    assert ("grant.approved", "approver:alice", "approved") in _events(bt, approved)
    assert ("grant.denied", "approver:alice", "denied") in _events(bt, denied)


@pytest.mark.parametrize("statement", ["UPDATE audit_events SET actor = 'x'", "DELETE FROM audit_events"])
def test_audit_rows_cannot_be_rewritten(bt: BrokerUnderTest, statement: str) -> None:
    bt.client.post("/aws/grants", json=bt.grant_body(), headers=bt.headers())
    with pytest.raises(DBAPIError, match="append-only"):
        with bt.broker.deps.store.engine.begin() as connection:  # type: ignore[attr-defined]
            connection.execute(text(statement))
