"""Revoked means revoked in AWS: release, an approver's revocation and the kill switch make the
emulator (IAM enforced, role policies evaluated on every call) refuse exactly the revoked
sessions at once, while other grants' sessions on the same role keep working; the collector
later removes what is no longer needed, and a full role falls back to a blanket statement that
says so."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest

from cloud_broker.families.aws.revocation_names import REVOCATION_ACTIONS, REVOCATION_POLICY_NAME, REVOKER_SESSION_NAME
from cloud_broker.families.aws.revocation_policy import ROLE_POLICY_SIZE_LIMIT
from cloud_broker.service.kill_switch import Selection

from .conftest import BrokerUnderTest, reads_reports, s3_client

pytestmark = pytest.mark.both_stores


def _grant(bt: BrokerUnderTest, agent_id: str | None = None, run_id: str | None = None) -> tuple[str, dict[str, str]]:
    overrides = {k: v for k, v in (("agent_id", agent_id), ("run_id", run_id)) if v}
    reply = bt.client.post("/aws/grants", json=bt.grant_body(**overrides), headers=bt.headers())
    assert reply.json()["status"] == "active", reply.text
    grant_id = reply.json()["grant_id"]
    creds = bt.client.post(f"/aws/grants/{grant_id}/credentials",
                           params={"agent_id": overrides.get("agent_id", bt.agent_id)}, headers=bt.headers())
    return grant_id, creds.json()["credentials"]


def _reads(bt: BrokerUnderTest, creds: dict[str, str]) -> bool:
    return reads_reports(s3_client(bt, creds))


def _revoker_iam(bt: BrokerUnderTest) -> Any:
    """IAM as the broker's revoker session: what the tests may inspect and pad on the role."""
    source = boto3.Session(aws_access_key_id=bt.emulator.source_access_key_id,
                           aws_secret_access_key=bt.emulator.source_secret_access_key, region_name="us-east-1")
    creds = source.client("sts", endpoint_url=bt.emulator.endpoint_url).assume_role(
        RoleArn=bt.emulator.role_arn, RoleSessionName=REVOKER_SESSION_NAME)["Credentials"]
    return boto3.client("iam", endpoint_url=bt.emulator.endpoint_url, region_name="us-east-1",
                        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                        aws_session_token=creds["SessionToken"])


def _statements(bt: BrokerUnderTest) -> list[dict[str, Any]]:
    iam = _revoker_iam(bt)
    if REVOCATION_POLICY_NAME not in iam.list_role_policies(RoleName="cloud-broker-agent")["PolicyNames"]:
        return []
    document = iam.get_role_policy(RoleName="cloud-broker-agent", PolicyName=REVOCATION_POLICY_NAME)["PolicyDocument"]
    return list(document["Statement"])


def test_a_release_is_refused_by_aws_at_once_and_other_sessions_keep_working(bt: BrokerUnderTest) -> None:
    released_id, released = _grant(bt)
    _, kept = _grant(bt)
    assert _reads(bt, released) and _reads(bt, kept)

    reply = bt.client.post(f"/aws/grants/{released_id}/release", params={"agent_id": bt.agent_id},
                           headers=bt.headers()).json()
    assert reply["revoked_in_cloud"] is True and f"cb-{released_id}" in reply["cloud_revocation"]
    assert not _reads(bt, released)  # the very next call with the released credentials
    assert _reads(bt, kept)
    [statement] = _statements(bt)
    assert statement["Effect"] == "Deny" and statement["Condition"]["StringLike"]["aws:userid"].endswith(
        f":cb-{released_id}")
    with bt.broker.deps.store.unit_of_work() as uow:
        trail = [(e.event, e.detail.get("revoked_in_cloud")) for e in uow.list_audit(grant_id=released_id)]
    assert ("grant.cloud_revocation", True) in trail


def test_the_collector_removes_a_statement_once_its_session_has_expired(bt: BrokerUnderTest) -> None:
    grant_id, creds = _grant(bt)
    bt.broker.approvals.revoke(grant_id, "alice", "done with it")
    assert len(_statements(bt)) == 1 and not _reads(bt, creds)

    assert bt.broker.sweeper.sweep(collect=True)["collected"] == 0  # its session is still live: kept
    assert len(_statements(bt)) == 1
    bt.clock.offset += timedelta(seconds=900) + timedelta(minutes=6)  # past expiry and clock skew
    assert bt.broker.sweeper.sweep(collect=True)["collected"] == 1
    assert _statements(bt) == []  # the policy is gone, not left empty


def test_revoking_twice_writes_one_statement(bt: BrokerUnderTest) -> None:
    grant_id, _ = _grant(bt)
    bt.broker.approvals.revoke(grant_id, "alice", "incident")
    job = bt.broker.revocations.enqueue  # a second job for the same grant, as a retry after a crash would make
    with bt.broker.deps.store.unit_of_work() as uow:
        grant = uow.get_grant(grant_id)
        again = job(uow, grant, 10_000, "system:test")
    bt.broker.revocations.run_now(again)
    assert len(_statements(bt)) == 1


def test_the_kill_switch_stops_every_grant_of_an_agent_and_no_other(bt: BrokerUnderTest) -> None:
    first_id, first = _grant(bt)
    second_id, second = _grant(bt)
    other_id, other = _grant(bt, agent_id=bt.other_agent_id)
    pending = bt.client.post("/aws/grants", json=bt.grant_body(actions=["s3:PutObject"]), headers=bt.headers()).json()
    stopped = bt.broker.kill_switch.pull(Selection(agent_id=bt.agent_id), "operator:root", "agent misbehaving")
    assert {s.grant.grant_id: s.grant.status.value for s in stopped} == {
        first_id: "revoked", second_id: "revoked", pending["grant_id"]: "denied"}
    for item in stopped:
        if item.job is not None:
            bt.broker.revocations.run_now(item.job)
    assert not _reads(bt, first) and not _reads(bt, second) and _reads(bt, other)
    assert bt.broker.revocations.state(other_id) is None


def test_the_kill_switch_needs_exactly_one_selector_and_a_reason(bt: BrokerUnderTest) -> None:
    from cloud_broker.errors import InvalidInput

    for selection, reason in ((Selection(), "x"), (Selection(agent_id="a", team="t"), "x"),
                              (Selection(team="data"), " ")):
        with pytest.raises(InvalidInput):
            bt.broker.kill_switch.pull(selection, "operator:root", reason)


@pytest.fixture
def padded_role(bt: BrokerUnderTest) -> Iterator[int]:
    """Another inline policy on the role, leaving room for two revocation statements only."""
    iam = _revoker_iam(bt)
    role = "cloud-broker-agent"
    others = sum(len(json.dumps(iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"],
                                separators=(",", ":")))
                 for name in iam.list_role_policies(RoleName=role)["PolicyNames"] if name != REVOCATION_POLICY_NAME)
    room = 600  # a document of two statements (~260 characters each), not three
    filler = ROLE_POLICY_SIZE_LIMIT - others - room - len(json.dumps(_padding(""), separators=(",", ":")))
    iam.put_role_policy(RoleName="cloud-broker-agent", PolicyName="padding",
                        PolicyDocument=json.dumps(_padding("x" * filler)))
    try:
        yield room
    finally:
        iam.delete_role_policy(RoleName="cloud-broker-agent", PolicyName="padding")


def _padding(sid_tail: str) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "Pad" + sid_tail, "Effect": "Allow", "Action": list(REVOCATION_ACTIONS[:1]), "Resource": "*"}]}


def test_a_full_role_falls_back_to_one_statement_and_every_reply_says_so(bt: BrokerUnderTest, padded_role: int) -> None:
    grants = [_grant(bt) for _ in range(4)]
    live_id = grants[3][0]
    for grant_id, _ in grants[:2]:
        assert bt.broker.approvals.revoke(grant_id, "alice", "incident").status.value == "revoked"
        assert bt.broker.revocations.state(grant_id).revoked_in_cloud is True  # type: ignore[union-attr]
    bt.broker.approvals.revoke(grants[2][0], "alice", "incident")
    state = bt.broker.revocations.state(grants[2][0])
    assert state is not None and state.revoked_in_cloud is True
    assert "every broker session on this role issued before" in state.detail and "other grants'" in state.detail
    [blanket] = _statements(bt)
    assert blanket["Condition"]["StringLike"]["aws:userid"].endswith(":cb-*")
    assert not any(_reads(bt, creds) for _, creds in grants)  # the live grant too: the price of the fallback
    with bt.broker.deps.store.unit_of_work() as uow:
        events = [e.event for e in uow.list_audit(grant_id=live_id)]
    assert "grant.cloud_revoked_collaterally" in events  # its trail says why its credentials stopped working
    time.sleep(1.1)  # the bound is the next whole second (IAM compares whole seconds)
    _, fresh = _grant(bt)
    assert _reads(bt, fresh)  # sessions issued after the fallback are not touched


def test_where_the_cloud_revocation_landed_is_pushed_to_the_agent(bt: BrokerUnderTest) -> None:
    from cloud_broker.service.feed import GrantFeed

    grant_id, creds = _grant(bt)
    bt.broker.approvals.revoke(grant_id, "alice", "incident")
    events, _ = GrantFeed(bt.broker.deps).after(0, agent_id=bt.agent_id)
    [pushed] = [e.to_json() for e in events if e.event == "grant.cloud_revocation"]
    assert pushed["grant_id"] == grant_id and pushed["status"] == "revoked" and pushed["revoked_in_cloud"] is True
    assert "AWS now refuses session" in pushed["cloud_revocation"] and "AWS now refuses" in pushed["message"]
    assert not any(value in json.dumps(pushed) for value in creds.values())


def test_a_writer_whose_lease_ran_out_and_was_taken_writes_nothing(bt: BrokerUnderTest) -> None:
    from cloud_broker.errors import ProviderError
    from cloud_broker.service.revocation import WRITE_LEASE, TargetLease

    grant_id, creds = _grant(bt)
    revoked = bt.broker.approvals.revoke(grant_id, "alice", "incident", cloud_now=False)
    deps = bt.broker.deps
    stale = TargetLease.take(deps, "aws", revoked.target, deps.clock() - WRITE_LEASE - timedelta(seconds=1))
    assert stale is not None  # a process that took it long ago and was slow (a throttled IAM)
    successor = TargetLease.take(deps, "aws", revoked.target, deps.clock())
    assert successor is not None  # its lease ran out: another process took over
    plan = deps.family("aws").plan_revoke(revoked, deps.config, deps.clock(), False)
    with pytest.raises(ProviderError) as refused:
        deps.provider("aws").revoke(plan, stale.fence)
    assert refused.value.code == "AWS_REVOCATION_BUSY" and refused.value.retryable
    assert _statements(bt) == [] and _reads(bt, creds)  # nothing written by the stale holder
    deps.provider("aws").revoke(plan, successor.fence)
    assert not _reads(bt, creds)


def test_the_kill_switch_pulled_while_a_grant_is_minting_leaves_no_working_credentials(
        emulator: Any, tmp_path: Any) -> None:
    """The operator stops the agent while STS is answering its request: the grant never turns
    active, and the session STS issued right after the stop is refused all the same."""
    from .conftest import PassThrough, broker_under_test

    holder: dict[str, Any] = {}

    class KillDuringMint(PassThrough):
        def __init__(self, inner: Any) -> None:
            super().__init__(inner)
            self.issued: list[dict[str, str]] = []

        def mint(self, plan: Any) -> Any:
            bt = holder["bt"]
            holder["stopped"] = bt.broker.kill_switch.pull(Selection(agent_id=bt.agent_id), "operator:root", "now")
            for item in holder["stopped"]:
                bt.broker.revocations.run_now(item.job)  # the statement lands before the session exists
            issued = self.inner.mint(plan)
            self.issued.append(issued.values)
            return issued

    with broker_under_test(emulator, tmp_path, provider=lambda sts: holder.setdefault("p", KillDuringMint(sts))) as bt:
        holder["bt"] = bt
        reply = bt.client.post("/aws/grants", json=bt.grant_body(), headers=bt.headers())
        assert reply.status_code == 409 and "MINT_INTERRUPTED" in reply.text, reply.text
        [stopped] = holder["stopped"]
        assert stopped.grant.status.value == "failed" and stopped.job is not None
        grant_id = stopped.grant.grant_id
        creds = bt.client.post(f"/aws/grants/{grant_id}/credentials", params={"agent_id": bt.agent_id},
                               headers=bt.headers())
        assert creds.status_code == 409 and "secret_access_key" not in creds.text
        [values] = holder["p"].issued
        assert not _reads(bt, values)  # issued after the statement, refused by it


def test_a_stopped_agent_cannot_request_again_until_it_is_resumed_and_others_can(bt: BrokerUnderTest) -> None:
    _grant(bt)
    bt.broker.kill_switch.pull(Selection(agent_id=bt.agent_id), "operator:root", "agent misbehaving")
    before = bt.counts()
    refused = bt.client.post("/aws/grants", json=bt.grant_body(), headers=bt.headers())
    assert refused.status_code == 403 and refused.json()["error_code"] == "STOPPED"
    assert "cloud-broker resume --agent" in refused.json()["error"] and bt.counts() == before  # nothing written
    _grant(bt, agent_id=bt.other_agent_id)  # another agent of the same team is not stopped
    assert bt.broker.kill_switch.resume(Selection(agent_id=bt.agent_id)) is True
    assert bt.broker.kill_switch.resume(Selection(agent_id=bt.agent_id)) is False
    _grant(bt)


def test_a_stopped_team_refuses_every_agent_of_it(bt: BrokerUnderTest) -> None:
    bt.broker.kill_switch.pull(Selection(team="data"), "operator:root", "incident")
    for agent in (bt.agent_id, bt.other_agent_id):
        reply = bt.client.post("/aws/grants", json=bt.grant_body(agent_id=agent), headers=bt.headers())
        assert reply.status_code == 403 and reply.json()["error_code"] == "STOPPED"
    preview = bt.client.post("/aws/scope/preview", json={k: v for k, v in bt.grant_body().items() if k != "run_id"},
                             headers=bt.headers())
    assert preview.status_code == 200, preview.text  # a preview files nothing
