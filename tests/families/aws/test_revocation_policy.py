"""The revocation policy document, pure: every revoked session stays refused until it has
expired, the document never exceeds its budget, and nobody else's statements are touched."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloud_broker.families.aws.revocation_policy import (
    CLOCK_SKEW,
    ROLE_POLICY_SIZE_LIMIT,
    STS_LONGEST_SESSION,
    covers,
    grant_revocation,
    parse,
    revise,
    size,
)

ROLE_ID = "AROAEXAMPLEROLEID0001"
T0 = datetime(2026, 11, 29, 12, 0, 0, 250_000, tzinfo=UTC)


def _revoke(current: str | None, grant_id: str, at: datetime, ttl: timedelta = timedelta(minutes=15),
            budget: int = ROLE_POLICY_SIZE_LIMIT, role_id: str = ROLE_ID) -> str | None:
    revocation = grant_revocation(grant_id, session_expires_at=at + ttl)
    return revise(current, role_id, [revocation], at, budget).document


def test_a_statement_names_one_session_and_reaches_past_its_expiry_whatever_the_clocks_say() -> None:
    grant_id = str(uuid.uuid4())
    document = _revoke(None, grant_id, T0)
    [statement] = json.loads(document or "")["Statement"]
    assert statement["Effect"] == "Deny" and statement["Action"] == "*" and statement["Resource"] == "*"
    assert statement["Condition"] == {
        "StringLike": {"aws:userid": f"{ROLE_ID}:cb-{grant_id}"},
        # expiry (12:15:00.25) plus skew, to the next whole second: a session issued a little
        # later by AWS's clock, or by a mint still in flight, is refused too
        "DateLessThan": {"aws:TokenIssueTime": "2026-11-29T12:20:01Z"},
    }
    ours, others = parse(document)
    assert others == [] and [r.role_id for r in ours] == [ROLE_ID]
    assert covers(ours, ROLE_ID, grant_id, T0 + timedelta(minutes=10))
    assert not covers(ours, ROLE_ID, str(uuid.uuid4()), T0) and not covers(ours, "AROAOTHER", grant_id, T0)


def test_a_role_created_again_gets_statements_with_its_new_id_and_the_old_ones_are_still_collected() -> None:
    old_grant, new_grant = str(uuid.uuid4()), str(uuid.uuid4())
    document = _revoke(None, old_grant, T0)
    document = _revoke(document, new_grant, T0, role_id="AROANEWROLEID0000002")
    ours, others = parse(document)
    assert others == [] and {(r.role_id, r.grant_id) for r in ours} == {(ROLE_ID, old_grant),
                                                                       ("AROANEWROLEID0000002", new_grant)}
    gone = revise(document, "AROANEWROLEID0000002", [], T0 + timedelta(hours=1))
    assert gone.collected == 2 and gone.document is None
    again = json.loads(_revoke(document, old_grant, T0, role_id="AROANEWROLEID0000002") or "")["Statement"]
    assert len({s["Sid"] for s in again}) == len(again) == 2  # Sids stay unique, as IAM requires
    assert {s["Condition"]["StringLike"]["aws:userid"].split(":")[0] for s in again} == {"AROANEWROLEID0000002"}


def test_statements_are_collected_only_after_expiry_and_clock_skew() -> None:
    grant_id = str(uuid.uuid4())
    document = _revoke(None, grant_id, T0)
    expiry = T0 + timedelta(minutes=15)
    kept = revise(document, ROLE_ID, [], expiry + CLOCK_SKEW)
    assert kept.collected == 0 and kept.document == document
    gone = revise(document, ROLE_ID, [], expiry + CLOCK_SKEW + timedelta(seconds=1))
    assert gone.collected == 1 and gone.document is None  # empty: delete the policy


def test_someone_elses_statements_are_kept_as_they_are() -> None:
    theirs = {"Sid": "CbGrantLooksLikeOurs", "Effect": "Deny", "Action": "s3:*", "Resource": "*"}
    forged = {"Sid": f"CbGrant{'0' * 32}Until1", "Effect": "Allow", "Action": "*", "Resource": "*",
              "Condition": {"DateLessThan": {"aws:TokenIssueTime": "2026-11-29T12:00:01Z"}}}
    current = json.dumps({"Version": "2012-10-17", "Statement": [theirs, forged]})
    outcome = revise(current, ROLE_ID, [], T0 + timedelta(days=1))
    assert outcome.document == current and outcome.collected == 0  # neither is ours to drop
    assert revise(current, ROLE_ID, [], T0, budget=10).document == current  # collecting never needs room
    added = json.loads(_revoke(current, str(uuid.uuid4()), T0) or "")["Statement"]
    assert added[:2] == [theirs, forged] and len(added) == 3


def test_a_burst_that_does_not_fit_collapses_into_one_blanket_statement() -> None:
    document: str | None = None
    budget = 700
    grants = [str(uuid.uuid4()) for _ in range(5)]
    collapsed = 0
    for i, grant_id in enumerate(grants):
        outcome = revise(document, ROLE_ID, [grant_revocation(grant_id, session_expires_at=T0 + timedelta(minutes=15))],
                         T0 + timedelta(seconds=i), budget)
        document, collapsed = outcome.document, collapsed + outcome.collapsed
        assert size(document) <= budget
    ours, _ = parse(document)
    assert collapsed > 0 and any(r.grant_id is None for r in ours)
    assert all(covers(ours, ROLE_ID, g, T0) for g in grants)
    blanket = next(r for r in ours if r.grant_id is None)
    assert blanket.until >= blanket.issued_before + STS_LONGEST_SESSION  # kept while any such session may live


def test_a_blanket_never_reaches_past_now_so_grants_minted_after_it_work() -> None:
    grants = [str(uuid.uuid4()) for _ in range(3)]
    document: str | None = None
    for grant_id in grants:
        document = _revoke(document, grant_id, T0, budget=700)
    [blanket] = [r for r in parse(document)[0] if r.grant_id is None]
    assert blanket.issued_before == datetime(2026, 11, 29, 12, 0, 1, tzinfo=UTC)
    assert not covers([blanket], ROLE_ID, str(uuid.uuid4()), T0 + timedelta(seconds=2))


def test_a_role_with_no_room_at_all_is_an_error_not_a_silent_skip() -> None:
    with pytest.raises(ValueError, match="too few"):
        _revoke(None, str(uuid.uuid4()), T0, budget=100)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3600), st.integers(60, 43_200)), min_size=1, max_size=60),
       st.integers(600, ROLE_POLICY_SIZE_LIMIT))
def test_every_revoked_session_stays_refused_until_it_expires(events: list[tuple[int, int]], budget: int) -> None:
    """Whatever the order, the sizes and the budget: the document fits, and each revoked grant's
    session (issued before its revocation) is refused for as long as it can live."""
    document: str | None = None
    revoked: list[tuple[str, datetime, datetime]] = []
    now = T0
    for offset, ttl in sorted(events):
        now = T0 + timedelta(seconds=offset)
        grant_id = str(uuid.uuid4())
        issued = now - timedelta(seconds=1)
        outcome = revise(document, ROLE_ID, [grant_revocation(grant_id, session_expires_at=issued
                                                              + timedelta(seconds=ttl))], now, budget)
        document = outcome.document
        assert size(document) <= budget
        revoked.append((grant_id, issued, issued + timedelta(seconds=ttl)))
        ours, _ = parse(document)
        for other_id, other_issued, expires in revoked:
            if now <= expires + CLOCK_SKEW:
                assert covers(ours, ROLE_ID, other_id, other_issued), other_id
