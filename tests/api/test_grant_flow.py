"""The grant lifecycle through the HTTP API, minting real STS credentials on the emulator."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.api.conftest import ACCOUNT, BrokerUnderTest, s3_client

pytestmark = pytest.mark.both_stores

_s3 = s3_client


def _request(bt: BrokerUnderTest, **overrides: Any) -> dict[str, Any]:
    reply = bt.client.post("/aws/grants", json=bt.grant_body(**overrides), headers=bt.headers())
    assert reply.status_code == 200, reply.text
    return reply.json()


def _credentials(bt: BrokerUnderTest, grant_id: str) -> Any:
    return bt.client.post(f"/aws/grants/{grant_id}/credentials", params={"agent_id": bt.agent_id},
                          headers={**bt.headers(), "Content-Type": "application/json"})


def test_auto_approved_grant_is_minted_and_does_exactly_what_was_granted(bt: BrokerUnderTest) -> None:
    grant = _request(bt)
    assert grant["status"] == "active"
    assert grant["secret_ref"] == f"secret_ref://aws/runs/{grant['secret_ref'].split('/')[4]}/{grant['grant_id']}"
    assert "credentials" not in grant
    creds = _credentials(bt, grant["grant_id"]).json()["credentials"]
    s3 = _s3(bt, creds)
    assert s3.get_object(Bucket="reports", Key="today.csv")["Body"].read().startswith(b"date,")
    assert any(o["Key"] == "today.csv" for o in s3.list_objects_v2(Bucket="reports")["Contents"])
    for call in (lambda: s3.put_object(Bucket="reports", Key="x.csv", Body=b"x"),
                 lambda: s3.get_object(Bucket="finance", Key="q3.csv")):
        with pytest.raises(ClientError) as refused:
            call()
        assert refused.value.response["Error"]["Code"] == "AccessDenied"


def test_credentials_are_refused_outside_the_granted_region(bt: BrokerUnderTest) -> None:
    creds = _credentials(bt, _request(bt)["grant_id"]).json()["credentials"]
    with pytest.raises(ClientError) as refused:
        _s3(bt, creds, region="eu-west-1").get_object(Bucket="reports", Key="today.csv")
    assert refused.value.response["Error"]["Code"] == "AccessDenied"


def test_repeated_credential_reads_return_the_same_values(bt: BrokerUnderTest) -> None:
    grant_id = _request(bt)["grant_id"]
    first, second = (_credentials(bt, grant_id).json() for _ in range(2))
    assert first == second
    assert set(first["credentials"]) == {"access_key_id", "secret_access_key", "session_token"}


def test_release_is_idempotent_and_then_credentials_are_409(bt: BrokerUnderTest) -> None:
    grant_id = _request(bt)["grant_id"]
    for _ in range(2):
        reply = bt.client.post(f"/aws/grants/{grant_id}/release", params={"agent_id": bt.agent_id},
                               headers={**bt.headers(), "Content-Type": "application/json"})
        assert reply.status_code == 200
        assert reply.json()["status"] == "revoked"
    refused = _credentials(bt, grant_id)
    assert refused.status_code == 409
    assert "GRANT_RELEASED" in refused.json()["error"]
    assert bt.counts()[1] == 0, "ciphertext must be deleted on release"
    polled = bt.client.get(f"/aws/grants/{grant_id}", params={"agent_id": bt.agent_id}, headers=bt.headers()).json()
    assert polled["status"] == "revoked" and "secret_ref" not in polled


def test_expired_grant_reads_expired_before_any_sweep_and_credentials_are_410(bt: BrokerUnderTest) -> None:
    grant_id = _request(bt, ttl_seconds=300)["grant_id"]
    bt.clock.offset = timedelta(seconds=301)
    polled = bt.client.get(f"/aws/grants/{grant_id}", params={"agent_id": bt.agent_id}, headers=bt.headers()).json()
    assert polled["status"] == "expired"
    refused = _credentials(bt, grant_id)
    assert refused.status_code == 410
    assert "GRANT_EXPIRED" in refused.json()["error"]
    assert bt.broker.sweeper.sweep()["expired"] == 1
    assert bt.counts()[1] == 0, "the sweeper drops the ciphertext of expired grants"


def test_short_grant_is_cut_off_by_aws_at_expires_at_not_at_the_sts_minimum(bt: BrokerUnderTest) -> None:
    """STS sessions last at least 900 s; a 300 s grant is bounded by aws:CurrentTime in the session policy.
    The emulator enforces that condition (extension in cloud_broker.sandbox)."""
    from cloud_broker.service.minting import mint_plan_for

    grant_id = _request(bt, ttl_seconds=300)["grant_id"]
    with bt.broker.deps.store.unit_of_work() as uow:
        grant = uow.get_grant(grant_id)
    request = mint_plan_for(bt.broker.deps, grant)
    assert request.duration_seconds == 900
    assert grant.expires_at is not None
    assert grant.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ") in request.session_policy
    assert "aws:CurrentTime" in request.session_policy


def test_routed_request_is_pending_and_approval_mints(bt: BrokerUnderTest) -> None:
    grant = _request(bt, actions=["s3:PutObject"], resources=["arn:aws:s3:::reports/*"])
    assert grant["status"] == "pending"
    assert grant["would"] == "route_to_approver"
    assert "s3:PutObject" in grant["reason"]
    assert _credentials(bt, grant["grant_id"]).status_code == 409
    approved = bt.broker.approvals.approve(grant["grant_id"], "alice")
    assert approved.status.value == "active"
    creds = _credentials(bt, grant["grant_id"]).json()["credentials"]
    _s3(bt, creds).put_object(Bucket="reports", Key="approved.csv", Body=b"ok")


def test_second_approval_is_refused_as_already_resolved(bt: BrokerUnderTest) -> None:
    from cloud_broker.errors import Conflict

    grant = _request(bt, actions=["s3:PutObject"], resources=["arn:aws:s3:::reports/*"])
    bt.broker.approvals.deny(grant["grant_id"], "alice", "not today")
    with pytest.raises(Conflict) as refused:
        bt.broker.approvals.approve(grant["grant_id"], "alice")
    assert refused.value.code == "ALREADY_RESOLVED" and "already denied by alice" in refused.value.message
    polled = bt.client.get(f"/aws/grants/{grant['grant_id']}", params={"agent_id": bt.agent_id}, headers=bt.headers()).json()
    assert polled == {**polled, "status": "denied", "denial_reason": "not today"}


def test_only_listed_approvers_may_approve(bt: BrokerUnderTest) -> None:
    from cloud_broker.errors import Forbidden

    grant = _request(bt, actions=["s3:PutObject"], resources=["arn:aws:s3:::reports/*"])
    with pytest.raises(Forbidden):
        bt.broker.approvals.approve(grant["grant_id"], "mallory")
    assert bt.client.get(f"/aws/grants/{grant['grant_id']}", params={"agent_id": bt.agent_id},
                         headers=bt.headers()).json()["status"] == "pending"


def test_hard_denied_request_is_recorded_denied_with_reason(bt: BrokerUnderTest) -> None:
    grant = _request(bt, actions=["iam:*"], resources=["*"])
    assert grant["status"] == "denied"
    assert "iam:PassRole" in grant["denial_reason"]


def test_preview_writes_nothing(bt: BrokerUnderTest) -> None:
    before = bt.counts()
    body = {k: v for k, v in bt.grant_body().items() if k != "run_id"}
    reply = bt.client.post("/aws/scope/preview", json=body, headers=bt.headers())
    assert reply.json()["would"] == "auto_approve" and reply.json()["reason"] is None
    assert bt.counts() == before


def test_sts_failure_leaves_a_failed_grant_with_reason_and_no_secret(bt: BrokerUnderTest) -> None:
    from dataclasses import replace

    from cloud_broker.families.aws.provider import AwsStsProvider
    from cloud_broker.families.aws.wire import GrantCreateBody
    from cloud_broker.service.broker import Broker

    unreachable = AwsStsProvider(endpoint_url="http://127.0.0.1:9", max_attempts=1)
    broker = Broker(replace(bt.broker.deps, providers={"aws": unreachable}))
    outcome = broker.access.request("host-a", bt.agent_id, GrantCreateBody(**bt.grant_body()).to_ask())
    assert outcome.grant.status.value == "failed" and outcome.credential is None
    assert "minting failed" in (outcome.grant.denial_reason or "")
    assert bt.counts()[1] == 0
    polled = bt.client.get(f"/aws/grants/{outcome.grant.grant_id}", params={"agent_id": bt.agent_id},
                           headers=bt.headers()).json()
    assert polled["status"] == "failed"


def test_inventory_lists_only_the_teams_accounts(bt: BrokerUnderTest) -> None:
    mine = bt.client.get("/aws/inventory", params={"agent_id": bt.agent_id}, headers=bt.headers()).json()
    assert [a["account_id"] for a in mine["accounts"]] == [ACCOUNT]
    theirs = bt.client.get("/aws/inventory", params={"agent_id": bt.foreign_agent_id}, headers=bt.headers("host-b"))
    assert theirs.json() == {"accounts": []}


def test_families_not_served_yet_answer_empty_inventories(bt: BrokerUnderTest) -> None:
    for family in ("gcp", "supabase"):
        reply = bt.client.get(f"/{family}/inventory", params={"agent_id": bt.agent_id}, headers=bt.headers())
        assert reply.status_code == 200 and reply.json() == {"projects": []}


def test_openapi_document_is_published(bt: BrokerUnderTest) -> None:
    paths = bt.client.get("/openapi.json").json()["paths"]
    assert {"/aws/grants", "/aws/grants/{grant_id}/credentials", "/host/exchange"} <= set(paths)


def test_a_mint_interrupted_by_a_crash_is_settled_failed_by_the_sweeper(bt: BrokerUnderTest) -> None:
    """The intent row is committed before STS is called; if the process dies there, the row must
    not be forgotten. Simulated by committing the intent and never calling the provider."""
    from cloud_broker.families.aws.wire import GrantCreateBody
    from cloud_broker.service import access

    ask = GrantCreateBody(**bt.grant_body()).to_ask()
    decision = bt.broker.access.preview("host-a", bt.agent_id, ask.request)
    agent = bt.broker.deps.config.agent(bt.agent_id)
    grant = access._new_grant(agent, ask, decision, bt.clock(), timedelta(hours=1))
    with bt.broker.deps.store.unit_of_work() as uow:
        uow.insert_grant(grant)
    assert grant.status.value == "minting"
    assert bt.broker.sweeper.sweep()["failed"] == 0, "a mint in progress is left alone"
    bt.clock.offset = timedelta(minutes=6)
    assert bt.broker.sweeper.sweep()["failed"] == 1
    polled = bt.client.get(f"/aws/grants/{grant.grant_id}", params={"agent_id": bt.agent_id}, headers=bt.headers()).json()
    assert polled["status"] == "failed" and "interrupted" in polled["denial_reason"]
    with bt.broker.deps.store.unit_of_work() as uow:
        assert [e.event for e in uow.list_audit(grant_id=grant.grant_id)] == ["grant.failed"]
