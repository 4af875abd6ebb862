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
            budget: int = ROLE_POLICY_SIZE_LIMIT) -> str | None:
    revocation = grant_revocation(grant_id, now=at, session_expires_at=at + ttl)
    return revise(current, ROLE_ID, [revocation], at, budget).document


def test_a_statement_names_one_session_and_only_sessions_issued_before_the_revocation() -> None:
    grant_id = str(uuid.uuid4())
    document = _revoke(None, grant_id, T0)
    [statement] = json.loads(document or "")["Statement"]
    assert statement["Effect"] == "Deny" and statement["Action"] == "*" and statement["Resource"] == "*"
    assert statement["Condition"] == {
        "StringLike": {"aws:userid": f"{ROLE_ID}:cb-{grant_id}"},
        "DateLessThan": {"aws:TokenIssueTime": "2026-11-29T12:00:01Z"},  # the next whole second
    }
    ours, others = parse(document, ROLE_ID)
    assert others == [] and covers(ours, grant_id, T0) and not covers(ours, str(uuid.uuid4()), T0)


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
    added = json.loads(_revoke(current, str(uuid.uuid4()), T0) or "")["Statement"]
    assert added[:2] == [theirs, forged] and len(added) == 3


def test_a_burst_that_does_not_fit_collapses_into_one_blanket_statement() -> None:
    document: str | None = None
    budget = 700
    grants = [str(uuid.uuid4()) for _ in range(5)]
    collapsed = 0
    for i, grant_id in enumerate(grants):
        outcome = revise(document, ROLE_ID, [grant_revocation(grant_id, now=T0 + timedelta(seconds=i),
                                                              session_expires_at=T0 + timedelta(minutes=15))],
                         T0 + timedelta(seconds=i), budget)
        document, collapsed = outcome.document, collapsed + outcome.collapsed
        assert size(document) <= budget
    ours, _ = parse(document, ROLE_ID)
    assert collapsed > 0 and any(r.grant_id is None for r in ours)
    assert all(covers(ours, g, T0) for g in grants)
    blanket = next(r for r in ours if r.grant_id is None)
    assert blanket.until >= blanket.issued_before + STS_LONGEST_SESSION  # kept while any such session may live


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
        outcome = revise(document, ROLE_ID, [grant_revocation(grant_id, now=now, session_expires_at=issued
                                                              + timedelta(seconds=ttl))], now, budget)
        document = outcome.document
        assert size(document) <= budget
        revoked.append((grant_id, issued, issued + timedelta(seconds=ttl)))
        ours, _ = parse(document, ROLE_ID)
        for other_id, other_issued, expires in revoked:
            if now <= expires + CLOCK_SKEW:
                assert covers(ours, other_id, other_issued), other_id
