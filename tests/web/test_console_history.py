"""The pending queue, the history and its filters, and the ``Review`` service behind them."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from cloud_broker.domain.grants import GrantStatus
from cloud_broker.errors import Forbidden, NotFound
from cloud_broker.service.approvals import Narrowing
from cloud_broker.service.ports import GrantFilter
from cloud_broker.service.review import Review
from tests.api.conftest import ACCOUNT
from tests.web.conftest import BOB_CHAT_ID, ConsoleUnderTest

_GRANT_LINK = re.compile(r'/console/grants/([0-9a-f-]{36})')


def _linked(html: str) -> list[str]:
    return list(dict.fromkeys(_GRANT_LINK.findall(html)))


def _review(ct: ConsoleUnderTest) -> Review:
    return Review(ct.broker.deps, ct.broker.approvals)


def _later(ct: ConsoleUnderTest, seconds: int = 1) -> None:
    ct.clock.offset += timedelta(seconds=seconds)


def test_the_queue_lists_reviewable_pending_grants_oldest_first(ct: ConsoleUnderTest) -> None:
    first = ct.pending_grant()
    _later(ct)
    second = ct.pending_grant(agent_id=ct.agent_id, actions=["s3:DeleteObject"])
    _later(ct)
    foreign = ct.pending_grant(host="host-b", agent_id=ct.foreign_agent_id)
    auto = ct.request_grant(actions=["s3:GetObject"])
    assert auto["status"] == "active"
    ct.sign_in("alice")
    page = ct.client.get("/console/").text
    assert _linked(page) == [first, second]
    assert "a1" in page and "Sandbox" in page and "Write" in page and "0 / 1" in page and "0 / 2" in page
    assert "s3:PutObject, s3:GetObject" in page and "wildcards" in page
    carol = ct.new_client()
    ct.sign_in("carol", carol)
    assert _linked(carol.get("/console/").text) == [foreign]


def test_grants_past_their_pending_deadline_leave_the_queue(ct: ConsoleUnderTest) -> None:
    grant_id = ct.pending_grant()
    ct.sign_in("alice")
    _later(ct, 3600 + 1)
    assert _linked(ct.client.get("/console/").text) == []
    assert _linked(ct.client.get("/console/history?status=expired").text) == [grant_id]
    assert _linked(ct.client.get("/console/history?status=pending").text) == []
    assert "You cannot approve: this request is expired" in ct.client.get(f"/console/grants/{grant_id}").text


def test_history_filters_by_status_team_account_agent_and_approver(ct: ConsoleUnderTest) -> None:
    approvals = ct.broker.approvals
    denied = ct.pending_grant()
    approvals.deny(denied, "bob", "no")
    _later(ct)
    approved = ct.pending_grant(agent_id=ct.agent_id)
    approvals.approve(approved, "alice", Narrowing())
    _later(ct)
    other_agent = ct.pending_grant(agent_id=_other_agent(ct))
    _later(ct)
    foreign = ct.pending_grant(host="host-b", agent_id=ct.foreign_agent_id)
    ct.sign_in("alice")

    def shown(query: str = "") -> list[str]:
        reply = ct.client.get(f"/console/history{query}")
        assert reply.status_code == 200, reply.text
        return _linked(reply.text)

    assert shown() == [other_agent, approved, denied]  # newest first; team 'other' is not alice's
    assert shown("?status=denied") == [denied]
    assert shown("?status=active") == [approved]
    assert shown("?approver=alice") == [approved]
    assert shown("?approver=bob") == [denied]
    assert shown(f"?agent={_other_agent(ct)}") == [other_agent]
    assert shown("?agent=a2") == [other_agent]
    assert shown(f"?account={ACCOUNT}&team=data&status=pending") == [other_agent]
    assert shown("?team=other") == [] and shown("?account=999999999999") == []
    assert foreign not in shown()
    bad = ct.client.get("/console/history?status=bogus")
    assert bad.status_code == 400 and "unknown status" in bad.text


def test_history_filter_form_keeps_the_chosen_values(ct: ConsoleUnderTest) -> None:
    ct.sign_in("alice")
    page = ct.client.get("/console/history?status=denied&team=data").text
    assert '<option value="denied" selected>' in page and '<option value="data" selected>' in page


def test_review_detail_explains_coverage_requirement_and_trail(ct: ConsoleUnderTest) -> None:
    grant_id = ct.pending_grant(actions=["s3:PutObject", "s3:GetObject", "s3:DeleteObject"])
    ct.broker.approvals.comment(grant_id, "bob", "checking with the owner")
    review = _review(ct).detail(grant_id.upper(), "alice")
    covered = {(p.action, p.resource): p.rule for p in review.decision.covered}
    assert covered == {("s3:GetObject", "arn:aws:s3:::reports/*"): "read-reports"}
    assert {p.action for p in review.decision.uncovered} == {"s3:PutObject", "s3:DeleteObject"}
    assert review.requirement.required == 2 and review.requirement.rules == ("two-person-deletes",)
    assert review.requirement.approvers == frozenset({"alice", "bob"})
    assert review.risk.highest_level == "Write" and review.risk.wildcard_resources == ("arn:aws:s3:::reports/*",)
    assert [e.event for e in review.audit] == ["grant.requested", "grant.comment"]
    assert review.deliveries == () and review.status is GrantStatus.PENDING
    assert review.may_approve and review.why_not is None and review.standing.may_deny


@pytest.mark.parametrize(("approver", "setup", "why"), [
    ("bob", "self", "your own chat message set off this request"),
    ("alice", "approved_once", "you already approved"),
    ("alice", "denied", "this request is denied"),
])
def test_review_says_why_an_approver_may_not_approve(ct: ConsoleUnderTest, approver: str, setup: str, why: str) -> None:
    if setup == "self":
        grant_id = ct.pending_grant(turn_initiator={"channel": "slack", "sender_id": BOB_CHAT_ID})
    elif setup == "approved_once":
        grant_id = ct.pending_grant(actions=["s3:DeleteObject"])
        ct.broker.approvals.approve(grant_id, "alice")
    else:
        grant_id = ct.pending_grant()
        ct.broker.approvals.deny(grant_id, "bob", "no")
    review = _review(ct).detail(grant_id, approver)
    assert not review.may_approve and review.why_not is not None and why in review.why_not


def test_review_refuses_non_reviewers_and_unknown_grants(ct: ConsoleUnderTest) -> None:
    grant_id = ct.pending_grant()
    review = _review(ct)
    for outsider in ("carol", "dave", "nobody"):
        with pytest.raises(Forbidden) as refused:
            review.detail(grant_id, outsider)
        assert refused.value.code == "NOT_AN_APPROVER"
        assert review.queue(outsider) == [] and review.history(outsider, GrantFilter()) == []
    with pytest.raises(NotFound):
        review.detail("00000000-0000-4000-8000-000000000000", "alice")


def _other_agent(ct: ConsoleUnderTest) -> str:
    return next(a.id for a in ct.broker.deps.config.agents if a.name == "a2")
