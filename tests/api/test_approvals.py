"""Human approval rules against a real broker and the AWS emulator: who may approve, how many
distinct approvals a request needs, narrowing, self-approval, repeats, timeouts and races."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from cloud_broker.errors import BrokerError, Conflict, Forbidden, InvalidInput
from cloud_broker.service.approvals import Narrowing
from tests.api.conftest import ACCOUNT, BrokerUnderTest, broker_under_test, s3_client

pytestmark = pytest.mark.both_stores

WRITE = {"actions": ["s3:PutObject"], "resources": ["arn:aws:s3:::reports/*"]}
READ_FINANCE = {"actions": ["s3:GetObject"], "resources": ["arn:aws:s3:::finance/*"]}


class CountingProvider:
    """The real STS provider, counting mints: "exactly one AssumeRole" is then observable."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.mints = 0
        self._lock = threading.Lock()

    def mint(self, request: Any) -> Any:
        with self._lock:
            self.mints += 1
        return self.inner.mint(request)

    def revoke(self, *args: Any) -> Any:
        return self.inner.revoke(*args)


def _rules(raw: dict[str, Any]) -> None:
    raw["approvers"] = [
        {"name": "alice", "chat_ids": ["U0ALICE"]},
        {"name": "bob"},
        {"name": "carol"},
        {"name": "dave"},
    ]
    ceiling = raw["ceilings"][0]
    ceiling["approvers"] = ["alice", "bob", "carol"]
    ceiling["approval_rules"] = [
        {"name": "writes-need-two", "access_levels": ["Write"], "required_approvals": 2},
        {"name": "deletes-by-carol-or-bob", "actions": ["s3:DeleteObject"], "approvers": ["carol", "bob"]},
    ]


@pytest.fixture
def counted() -> CountingProvider:
    return CountingProvider(None)


@pytest.fixture
def ab(emulator: Any, tmp_path: Path, counted: CountingProvider) -> Iterator[BrokerUnderTest]:
    """On SQLite: what approvals decide does not depend on the store."""
    with _approvals_broker(emulator, tmp_path, counted, None) as under_test:
        yield under_test


@pytest.fixture
def ab_racing(emulator: Any, tmp_path: Path, counted: CountingProvider, store_url: str) -> Iterator[BrokerUnderTest]:
    """On each store in turn: how racing transactions interleave does."""
    with _approvals_broker(emulator, tmp_path, counted, store_url) as under_test:
        yield under_test


@contextmanager
def _approvals_broker(emulator: Any, tmp_path: Path, counted: CountingProvider,
                      store_url: str | None) -> Iterator[BrokerUnderTest]:
    def wrap(sts: Any) -> CountingProvider:
        counted.inner = sts
        return counted

    with broker_under_test(emulator, tmp_path, _rules, provider=wrap, store_url=store_url) as under_test:
        yield under_test


def _request(bt: BrokerUnderTest, **overrides: Any) -> dict[str, Any]:
    reply = bt.client.post("/aws/grants", json=bt.grant_body(**overrides), headers=bt.headers())
    assert reply.status_code == 200, reply.text
    return reply.json()


def _poll(bt: BrokerUnderTest, grant_id: str) -> dict[str, Any]:
    return bt.client.get(f"/aws/grants/{grant_id}", params={"agent_id": bt.agent_id}, headers=bt.headers()).json()


def _events(bt: BrokerUnderTest, grant_id: str) -> list[tuple[str, str]]:
    with bt.broker.deps.store.unit_of_work() as uow:
        return [(e.event, e.actor) for e in uow.list_audit(grant_id=grant_id)]


def test_a_write_needs_two_distinct_approvers(ab: BrokerUnderTest, counted: CountingProvider) -> None:
    grant_id = _request(ab, **WRITE)["grant_id"]
    after_one = ab.broker.approvals.approve(grant_id, "alice")
    assert after_one.status.value == "pending" and after_one.approvals == ("alice",)
    with pytest.raises(Conflict, match="already approved") as again:
        ab.broker.approvals.approve(grant_id, "alice")
    assert again.value.code == "ALREADY_APPROVED"
    assert counted.mints == 0 and _poll(ab, grant_id)["status"] == "pending"
    done = ab.broker.approvals.approve(grant_id, "bob")
    assert done.status.value == "active" and done.approvals == ("alice", "bob")
    assert counted.mints == 1
    assert ("grant.approval_recorded", "approver:alice") in _events(ab, grant_id)
    assert ("grant.approved", "approver:bob") in _events(ab, grant_id)
    assert _poll(ab, grant_id)["approved_by"] == ["alice", "bob"]


def test_a_read_needs_one_approval(ab: BrokerUnderTest) -> None:
    grant_id = _request(ab, **READ_FINANCE)["grant_id"]
    assert ab.broker.approvals.approve(grant_id, "carol").status.value == "active"


def test_a_rule_narrows_who_may_approve(ab: BrokerUnderTest, counted: CountingProvider) -> None:
    grant_id = _request(ab, actions=["s3:DeleteObject"], resources=["arn:aws:s3:::reports/*"])["grant_id"]
    with pytest.raises(Forbidden) as refused:
        ab.broker.approvals.approve(grant_id, "alice")
    assert refused.value.code == "NOT_AN_APPROVER"
    ab.broker.approvals.approve(grant_id, "carol")
    assert ab.broker.approvals.approve(grant_id, "bob").status.value == "active"
    assert counted.mints == 1


def test_declared_but_unlisted_approver_is_refused(ab: BrokerUnderTest) -> None:
    grant_id = _request(ab, **READ_FINANCE)["grant_id"]
    for outsider in ("dave", "mallory"):
        with pytest.raises(Forbidden):
            ab.broker.approvals.approve(grant_id, outsider)
    assert _poll(ab, grant_id)["status"] == "pending"


def test_nobody_approves_a_request_their_own_message_triggered(ab: BrokerUnderTest) -> None:
    grant_id = _request(ab, **READ_FINANCE, turn_initiator={"channel": "slack", "sender_id": "U0ALICE"})["grant_id"]
    with pytest.raises(Forbidden) as refused:
        ab.broker.approvals.approve(grant_id, "alice")
    assert refused.value.code == "SELF_APPROVAL"
    assert _poll(ab, grant_id)["status"] == "pending"
    assert ab.broker.approvals.approve(grant_id, "bob").status.value == "active"


def test_an_approver_can_narrow_actions_and_ttl(ab: BrokerUnderTest) -> None:
    scope = {"actions": ["s3:GetObject", "s3:PutObject"], "resources": ["arn:aws:s3:::reports/*"], "ttl_seconds": 1800}
    grant_id = _request(ab, **scope)["grant_id"]
    # Cutting the write away also drops the second-approval rule: one approval suffices.
    narrowed = ab.broker.approvals.approve(
        grant_id, "alice", Narrowing(actions=("s3:GetObject",), ttl=timedelta(seconds=600)), comment="read is enough"
    )
    assert narrowed.status.value == "active"
    polled = _poll(ab, grant_id)
    assert polled["actions"] == ["s3:GetObject"] and polled["ttl_seconds"] == 600
    assert polled["requested"]["actions"] == ["s3:GetObject", "s3:PutObject"]
    creds = ab.client.post(f"/aws/grants/{grant_id}/credentials", params={"agent_id": ab.agent_id},
                           headers=ab.headers()).json()["credentials"]
    s3 = s3_client(ab, creds)
    assert s3.get_object(Bucket="reports", Key="today.csv")["Body"].read()
    with pytest.raises(ClientError, match="AccessDenied"):
        s3.put_object(Bucket="reports", Key="narrowed.txt", Body=b"x")


@pytest.mark.parametrize("narrowing, message", [
    (Narrowing(actions=("s3:DeleteObject",)), "not requested"),
    (Narrowing(resources=()), "at least one"),
    (Narrowing(ttl=timedelta(seconds=3600)), "TTL"),
    (Narrowing(ttl=timedelta(seconds=60)), "TTL"),
])
def test_narrowing_never_widens_and_bad_narrowing_changes_nothing(
    ab: BrokerUnderTest, narrowing: Narrowing, message: str
) -> None:
    grant_id = _request(ab, **READ_FINANCE)["grant_id"]
    before = _events(ab, grant_id)
    with pytest.raises(InvalidInput, match=message):
        ab.broker.approvals.approve(grant_id, "alice", narrowing)
    assert _poll(ab, grant_id)["status"] == "pending" and _events(ab, grant_id) == before


def test_an_identical_pending_request_from_the_same_run_is_not_filed_twice(ab: BrokerUnderTest) -> None:
    run_id = str(uuid.uuid4())
    first = _request(ab, **READ_FINANCE, run_id=run_id)
    # Same scope with lists in another order is the same request.
    again = _request(ab, actions=["s3:GetObject"], resources=["arn:aws:s3:::finance/*"], run_id=run_id)
    assert again["grant_id"] == first["grant_id"] and again["repeated_request"] is True
    other_run = _request(ab, **READ_FINANCE)
    assert other_run["grant_id"] != first["grant_id"]
    assert ("grant.request_repeated", f"agent:{ab.agent_id} via host:host-a") in _events(ab, first["grant_id"])


def test_pending_requests_expire_and_cannot_be_approved_after(ab: BrokerUnderTest) -> None:
    run_id = str(uuid.uuid4())
    grant_id = _request(ab, **READ_FINANCE, run_id=run_id)["grant_id"]
    ab.clock.offset = timedelta(seconds=ab.broker.deps.config.broker.pending_timeout_seconds + 1)
    polled = _poll(ab, grant_id)
    assert polled["status"] == "expired"
    with pytest.raises(Conflict) as late:
        ab.broker.approvals.approve(grant_id, "alice")
    assert late.value.code == "ALREADY_RESOLVED"
    assert ab.broker.sweeper.sweep()["expired"] == 1
    assert ("grant.expired", "system:sweeper") in _events(ab, grant_id)
    # The slot is free again: the same request now files a new grant.
    assert _request(ab, **READ_FINANCE, run_id=run_id)["grant_id"] != grant_id


def test_a_repeat_after_the_timeout_files_a_new_grant_even_before_a_sweep(ab: BrokerUnderTest) -> None:
    run_id = str(uuid.uuid4())
    first = _request(ab, **READ_FINANCE, run_id=run_id)["grant_id"]
    ab.clock.offset = timedelta(hours=2)
    second = _request(ab, **READ_FINANCE, run_id=run_id)
    assert second["grant_id"] != first and second["status"] == "pending"
    assert _poll(ab, first)["status"] == "expired"


def _race(fn_a: Any, fn_b: Any) -> list[Any]:
    """Run both at once (a barrier releases them together); return results or exceptions."""
    barrier, results = threading.Barrier(2), [None, None]

    def run(index: int, fn: Any) -> None:
        barrier.wait()
        try:
            results[index] = fn()
        except BrokerError as exc:
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i, f)) for i, f in enumerate((fn_a, fn_b))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_two_approvers_racing_mint_exactly_once(
    ab_racing: BrokerUnderTest, counted: CountingProvider, assume_role_calls: list[int]
) -> None:
    for _ in range(5):
        before, served = counted.mints, len(assume_role_calls)
        grant_id = _request(ab_racing, **READ_FINANCE)["grant_id"]
        results = _race(lambda g=grant_id: ab_racing.broker.approvals.approve(g, "alice"),
                        lambda g=grant_id: ab_racing.broker.approvals.approve(g, "bob"))
        winners = [r for r in results if not isinstance(r, BrokerError)]
        losers = [r for r in results if isinstance(r, BrokerError)]
        assert len(winners) == 1 and winners[0].status.value == "active"
        assert len(losers) == 1 and losers[0].code == "ALREADY_RESOLVED"
        assert "already" in losers[0].text
        assert counted.mints == before + 1 and len(assume_role_calls) == served + 1
        assert _poll(ab_racing, grant_id)["status"] == "active"


def test_two_required_approvals_given_at_once_are_both_kept(
    ab_racing: BrokerUnderTest, counted: CountingProvider
) -> None:
    for _ in range(3):
        before = counted.mints
        grant_id = _request(ab_racing, **WRITE)["grant_id"]
        _race(lambda g=grant_id: ab_racing.broker.approvals.approve(g, "alice"),
              lambda g=grant_id: ab_racing.broker.approvals.approve(g, "bob"))
        polled = _poll(ab_racing, grant_id)
        assert polled["status"] == "active" and sorted(polled["approved_by"]) == ["alice", "bob"]
        assert counted.mints == before + 1


def test_one_denial_is_enough_even_when_two_approvals_are_needed(ab: BrokerUnderTest) -> None:
    grant_id = _request(ab, **WRITE)["grant_id"]
    ab.broker.approvals.approve(grant_id, "alice")
    denied = ab.broker.approvals.deny(grant_id, "bob", "not during the freeze")
    assert denied.status.value == "denied" and _poll(ab, grant_id)["denial_reason"] == "not during the freeze"


def test_an_approver_can_revoke_an_active_grant(ab: BrokerUnderTest) -> None:
    grant_id = _request(ab)["grant_id"]  # auto-approved read of reports
    with pytest.raises(Forbidden):
        ab.broker.approvals.revoke(grant_id, "dave", "not yours")
    revoked = ab.broker.approvals.revoke(grant_id, "carol", "incident 42")
    assert revoked.status.value == "revoked"
    reply = ab.client.post(f"/aws/grants/{grant_id}/credentials", params={"agent_id": ab.agent_id}, headers=ab.headers())
    assert reply.status_code == 409
    with pytest.raises(Conflict):
        ab.broker.approvals.revoke(grant_id, "carol", "again")
    assert ("grant.revoked", "approver:carol") in _events(ab, grant_id)


def test_comments_are_audited_with_the_approver(ab: BrokerUnderTest) -> None:
    grant_id = _request(ab, **READ_FINANCE)["grant_id"]
    ab.broker.approvals.comment(grant_id, "bob", "asked the team lead")
    with pytest.raises(InvalidInput):
        ab.broker.approvals.comment(grant_id, "bob", "   ")
    with ab.broker.deps.store.unit_of_work() as uow:
        rows = [e for e in uow.list_audit(grant_id=grant_id) if e.event == "grant.comment"]
    assert [(r.actor, r.reason) for r in rows] == [("approver:bob", "asked the team lead")]


def test_account_is_the_one_of_the_grant(ab: BrokerUnderTest) -> None:
    assert _request(ab, **READ_FINANCE)["account_id"] == ACCOUNT


def _with_config(ab: BrokerUnderTest, edit: Any) -> Any:
    """The same store under an edited broker.yaml, as after a restart with a changed file."""
    import copy
    import dataclasses

    from cloud_broker.config import parse_config
    from cloud_broker.service.broker import Broker

    raw = copy.deepcopy(ab.raw_config)
    edit(raw)
    return Broker(dataclasses.replace(ab.broker.deps, config=parse_config(raw)))


def test_an_approval_stops_counting_when_its_approver_is_removed(ab: BrokerUnderTest, counted: CountingProvider) -> None:
    grant_id = _request(ab, **WRITE)["grant_id"]
    ab.broker.approvals.approve(grant_id, "alice")
    tightened = _with_config(ab, lambda raw: raw["ceilings"][0].update(approvers=["bob", "carol"]))
    still = tightened.approvals.approve(grant_id, "bob")
    assert still.status.value == "pending" and still.approvals == ("bob",) and counted.mints == 0
    assert tightened.approvals.approve(grant_id, "carol").status.value == "active"


def test_a_denial_keeps_the_approvals_and_narrowing_recorded_before(ab: BrokerUnderTest) -> None:
    scope = {"actions": ["s3:PutObject", "s3:GetObject"], "resources": ["arn:aws:s3:::reports/*"]}
    grant_id = _request(ab, **scope)["grant_id"]
    ab.broker.approvals.approve(grant_id, "alice", Narrowing(actions=("s3:PutObject",)))
    ab.broker.approvals.deny(grant_id, "bob", "not this week")
    with ab.broker.deps.store.unit_of_work() as uow:
        grant = uow.get_grant(grant_id)
    assert (grant.status.value, grant.approvals, grant.scope["actions"]) == ("denied", ("alice",), ("s3:PutObject",))
    assert grant.requested is not None


def test_the_approver_who_hit_a_tightened_ceiling_is_on_record(ab: BrokerUnderTest) -> None:
    grant_id = _request(ab, **READ_FINANCE)["grant_id"]
    tightened = _with_config(ab, lambda raw: raw["ceilings"][0]["action_denylist"].append("s3:GetObject"))
    assert tightened.approvals.approve(grant_id, "alice").status.value == "denied"
    with ab.broker.deps.store.unit_of_work() as uow:
        denied = [e for e in uow.list_audit(grant_id=grant_id) if e.event == "grant.denied"]
    assert denied[0].actor == "approver:alice" and denied[0].detail == {"trigger": "hard_deny_on_approve"}


def test_approving_a_timed_out_request_says_it_expired(ab: BrokerUnderTest) -> None:
    grant_id = _request(ab, **READ_FINANCE)["grant_id"]
    ab.clock.offset = timedelta(days=1)
    with pytest.raises(Conflict, match="already expired"):
        ab.broker.approvals.approve(grant_id, "alice")


def test_the_queue_is_per_reviewer_and_oldest_first(ab: BrokerUnderTest) -> None:
    from cloud_broker.service.review import Review

    first = _request(ab, **READ_FINANCE)["grant_id"]
    second = _request(ab, **WRITE)["grant_id"]
    review = Review(ab.broker.deps, ab.broker.approvals)
    assert [g.grant_id for g in review.queue("alice")] == [first, second]
    assert review.queue("dave") == []


def test_repeating_a_pending_request_writes_at_most_one_row_per_minute(ab: BrokerUnderTest) -> None:
    """An agent may repeat a pending request as fast as it likes: each repeat is answered with
    the grant, but the trail grows by one row per grant per minute, not one per repeat."""
    run_id = str(uuid.uuid4())
    first = _request(ab, **READ_FINANCE, run_id=run_id)
    answers = [_request(ab, **READ_FINANCE, run_id=run_id) for _ in range(30)]
    assert {a["grant_id"] for a in answers} == {first["grant_id"]} and all(a["repeated_request"] for a in answers)
    assert {a["notification_status"] for a in answers} == {first["notification_status"]}
    repeats = [e for e in _events(ab, first["grant_id"]) if e[0] == "grant.request_repeated"]
    assert len(repeats) == 1
    ab.clock.offset = timedelta(seconds=61)
    _request(ab, **READ_FINANCE, run_id=run_id)
    _request(ab, **READ_FINANCE, run_id=run_id)
    assert len([e for e in _events(ab, first["grant_id"]) if e[0] == "grant.request_repeated"]) == 2


def test_repeats_racing_through_concurrent_transactions_still_write_one_row(ab_racing: BrokerUnderTest) -> None:
    """On PostgreSQL each transaction reads before the other commits; the check and the row are
    serialised per grant, so two repeats racing in every window still leave one row each."""
    run_id = str(uuid.uuid4())
    grant_id = _request(ab_racing, **READ_FINANCE, run_id=run_id)["grant_id"]
    for window in range(1, 9):
        ab_racing.clock.offset = timedelta(seconds=61 * window)
        answers = _race(lambda: _request(ab_racing, **READ_FINANCE, run_id=run_id),
                        lambda: _request(ab_racing, **READ_FINANCE, run_id=run_id))
        assert [a["grant_id"] for a in answers] == [grant_id, grant_id]  # type: ignore[index]
    repeats = [e for e in _events(ab_racing, grant_id) if e[0] == "grant.request_repeated"]
    assert len(repeats) == 8
