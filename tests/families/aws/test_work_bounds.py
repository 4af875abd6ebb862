"""Every decision has a bounded cost: hostile patterns are paid for from a budget, and what the
budget cannot settle gets the safe answer. Counters, never wall time."""

from __future__ import annotations

import json
import random
import re
from datetime import timedelta
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloud_broker.domain.limits import DECISION_WORK, MAX_ACTION_PATTERNS, MAX_PAIRS
from cloud_broker.families.aws.catalogue import Catalogue
from cloud_broker.families.aws.ceiling import AutoApproveRule, Ceiling
from cloud_broker.families.aws.decide import decide
from cloud_broker.families.aws.request import AwsAccessRequest
from cloud_broker.families.aws.session_policy import build_session_policy
from cloud_broker.policy import patterns
from cloud_broker.policy.budget import Budget
from cloud_broker.policy.decision import Outcome
from cloud_broker.policy.patterns import canonical, containment, matches, overlap

from .conftest import ACCOUNT, NOW

S3 = "arn:aws:s3:::"
# The shape that made containment exponential: "a, then at least n characters" written two ways
# that canonical spelling cannot reconcile. Deciding it exactly visits ~2^n states.
HARD_OUTER, HARD_INNER = "*a" + "?" * 18 + "*", "*a*b" + "?" * 18


@pytest.fixture(autouse=True)
def cold_caches() -> None:
    patterns.cache_clear()


# --- canonical spelling ---------------------------------------------------------------------

wild = st.text(alphabet="ab*?", max_size=12)


@settings(max_examples=300, deadline=None)
@given(wild, st.text(alphabet="abc*", max_size=10))
def test_canonical_spelling_keeps_the_language(pattern: str, text: str) -> None:
    assert matches(canonical(pattern), text) == bool(oracle(pattern).fullmatch(text))
    assert canonical(canonical(pattern)) == canonical(pattern)


def test_equivalent_spellings_become_one() -> None:
    assert canonical("a***b") == "a*b"
    assert {canonical(p) for p in ("a*?b", "a?*b", "a***?**b", "a?**")} == {"a?*b", "a?*"}
    assert patterns.unique(["s3:**", "S3:*", "s3:***"], ignore_case=True) == ("s3:*",)


# --- containment and overlap under a budget -------------------------------------------------


def hostile(draw: st.DrawFn) -> str:
    """Runs of ? and * around a few literals: the shapes the subset construction chokes on."""
    parts = draw(st.lists(st.one_of(st.sampled_from(["a", "b", "*", "/"]),
                                    st.integers(1, 24).map(lambda n: "?" * n)), min_size=1, max_size=8))
    return "".join(parts)


hostile_patterns = st.composite(hostile)()


@settings(max_examples=400, deadline=None)
@given(hostile_patterns, hostile_patterns, st.sampled_from([0, 20, 500, 5_000]), st.randoms(use_true_random=False))
def test_containment_is_sound_and_bounded_on_hostile_pairs(outer: str, inner: str, limit: int, rng: random.Random) -> None:
    budget = Budget(limit)
    answer = containment(outer, inner, budget=budget)
    assert budget.spent <= limit
    if answer is True:  # the dangerous answer: every string of inner must be outer's
        for text in samples(inner, rng):
            assert oracle(outer).fullmatch(text), (outer, inner, text)


@settings(max_examples=400, deadline=None)
@given(hostile_patterns, hostile_patterns, st.sampled_from([0, 20, 500]), st.randoms(use_true_random=False))
def test_overlap_is_sound_and_bounded_on_hostile_pairs(a: str, b: str, limit: int, rng: random.Random) -> None:
    budget = Budget(limit)
    answer = overlap(a, b, budget=budget)
    assert budget.spent <= limit
    if answer is False:  # the dangerous answer for a denylist: it must be true
        for text in samples(a, rng):
            assert not oracle(b).fullmatch(text), (a, b, text)


def test_the_exponential_pair_stops_at_its_budget_and_is_not_called_contained() -> None:
    budget = Budget(5_000)
    assert containment(HARD_OUTER, HARD_INNER, budget=budget) is None
    assert budget.spent == 5_000
    assert patterns.contains(HARD_OUTER, HARD_INNER) is False  # the public answer: not contained


def test_an_undecided_answer_is_not_remembered_and_a_small_case_is_still_decided() -> None:
    small_outer, small_inner = "*a" + "?" * 6 + "*", "*a*b" + "?" * 6
    assert containment(small_outer, small_inner, budget=Budget(10)) is None
    assert containment(small_outer, small_inner, budget=Budget(100_000)) is True


# --- whole decisions --------------------------------------------------------------------------


def sandbox(*rules: AutoApproveRule) -> Ceiling:
    return Ceiling(ACCOUNT, timedelta(hours=1), ("us-east-1",), rules or (
        AutoApproveRule("read", ("s3:GetObject", "s3:ListBucket"), (f"{S3}reports", f"{S3}reports/*")),
    ), ("iam:PassRole",), ("alice",))


def request(actions: tuple[str, ...], resources: tuple[str, ...]) -> AwsAccessRequest:
    return AwsAccessRequest(ACCOUNT, actions, resources, ("us-east-1",))


def test_a_rule_the_budget_cannot_prove_sends_the_request_to_a_person(catalogue: Catalogue) -> None:
    ceiling = sandbox(AutoApproveRule("tricky", ("s3:GetObject",), (f"{S3}{HARD_OUTER}",)))
    budget = Budget(DECISION_WORK)
    decision = decide(request(("s3:GetObject",), (f"{S3}{HARD_INNER}",)), ceiling, team="t",
                      catalogue=catalogue, now=NOW, budget=budget)
    assert decision.outcome is Outcome.ROUTE_TO_APPROVER
    assert f"work budget of {DECISION_WORK:,} steps ran out" in (decision.reason or "")
    assert budget.spent <= DECISION_WORK


def test_compaction_the_budget_cannot_prove_keeps_both_resources(catalogue: Catalogue) -> None:
    hostile = request(("s3:GetObject",), (f"{S3}{HARD_OUTER}", f"{S3}{HARD_INNER}"))
    starved = json.loads(build_session_policy(hostile, expires_at=NOW, catalogue=catalogue, budget=Budget(50)))
    assert starved["Statement"][0]["Resource"] == [f"{S3}{HARD_OUTER}", f"{S3}{HARD_INNER}"]
    plain = request(("s3:GetObject",), (f"{S3}reports/*", f"{S3}reports/2024/*"))
    compacted = json.loads(build_session_policy(plain, expires_at=NOW, catalogue=catalogue, budget=Budget(1_000)))
    assert compacted["Statement"][0]["Resource"] == [f"{S3}reports/*"]


def test_equivalent_resources_cost_nothing_to_compact(catalogue: Catalogue) -> None:
    q = "?" * 40
    same = request(("s3:GetObject",), (f"{S3}reports/*{q}*", f"{S3}reports/*{q[:20]}*{q[20:]}*"))
    budget = Budget(DECISION_WORK)
    decision = decide(same, sandbox(), team="t", catalogue=catalogue, now=NOW, budget=budget)
    assert decision.outcome is Outcome.AUTO_APPROVE
    assert len({p.resource for p in decision.covered}) == 1  # one canonical resource
    assert budget.spent < 1_000


def test_many_spellings_of_one_pattern_are_expanded_once(catalogue: Catalogue) -> None:
    spellings = tuple(f"s3:{'*' * k}" for k in range(1, 41)) + tuple(f"S3:{'*?' * k}*" for k in range(1, 3))
    counting = CountingCatalogue(catalogue)
    decision = decide(request(spellings, (f"{S3}reports/*",)), sandbox(), team="t", catalogue=counting, now=NOW)
    assert set(counting.expanded) <= {"s3:*", "S3:?*", "S3:??*"}
    assert decision.outcome is Outcome.ROUTE_TO_APPROVER


def test_a_request_over_the_pair_limit_is_denied_naming_the_limit_and_the_count(catalogue: Catalogue) -> None:
    actions = tuple(sorted(catalogue.expand("s3:*")))[:100]
    resources = tuple(f"{S3}bucket-{i}/*" for i in range(MAX_PAIRS // 100 + 1))
    decision = decide(request(actions, resources), sandbox(), team="t", catalogue=catalogue, now=NOW)
    assert decision.outcome is Outcome.HARD_DENY
    assert f"{100 * len(resources):,} (action, resource) pairs" in (decision.reason or "")
    assert f"limit of {MAX_PAIRS:,}" in (decision.reason or "")


def test_a_request_with_too_many_action_patterns_is_denied(catalogue: Catalogue) -> None:
    actions = tuple(f"ec2:Describe{'?' * k}*" for k in range(MAX_ACTION_PATTERNS + 1))
    decision = decide(request(actions, ("*",)), sandbox(), team="t", catalogue=catalogue, now=NOW)
    assert decision.outcome is Outcome.HARD_DENY
    assert f"{MAX_ACTION_PATTERNS + 1} distinct action patterns" in (decision.reason or "")


def test_a_denylist_overlap_the_budget_cannot_settle_denies(catalogue: Catalogue) -> None:
    decision = decide(request(("iam:Pass*",), ("*",)), sandbox(), team="t", catalogue=catalogue, now=NOW,
                      budget=Budget(0))
    assert decision.outcome is Outcome.HARD_DENY
    assert "could not be shown, within the work budget" in (decision.reason or "")


def test_suggestions_for_an_unknown_service_look_only_at_near_services(catalogue: Catalogue) -> None:
    assert catalogue.suggest("zzzzzqqqq:Foo") == []
    assert catalogue.suggest("dynamo:GetItem")[0] == "dynamodb:GetItem"


@settings(max_examples=60, deadline=None)
@given(st.lists(hostile_patterns, min_size=1, max_size=6))
def test_no_hostile_request_spends_more_than_the_decision_budget(names: list[str]) -> None:
    catalogue = Catalogue.default()
    budget = Budget(DECISION_WORK)
    resources = tuple(f"{S3}reports/{name}" for name in names)
    decision = decide(request(("s3:GetObject", "s3:Get*"), resources), sandbox(), team="t",
                      catalogue=catalogue, now=NOW, budget=budget)
    assert budget.spent <= DECISION_WORK
    assert decision.outcome in (Outcome.AUTO_APPROVE, Outcome.ROUTE_TO_APPROVER, Outcome.HARD_DENY)


# --- helpers --------------------------------------------------------------------------------


class CountingCatalogue(Catalogue):
    """The real catalogue, noting which patterns were expanded."""

    def __init__(self, real: Catalogue) -> None:
        self.__dict__.update(real.__dict__)
        self.expanded: list[str] = []

    def expand(self, action_pattern: str) -> frozenset[str]:
        self.expanded.append(action_pattern)
        return super().expand(action_pattern)


@cache
def oracle(pattern: str) -> re.Pattern[str]:
    # Backtracking regex: an oracle only for the short strings sampled here.
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern), re.DOTALL)


def samples(pattern: str, rng: random.Random, count: int = 6) -> list[str]:
    def fill(char: str) -> str:
        if char == "*":
            return "".join(rng.choice("ab/c") for _ in range(rng.randint(0, 3)))
        return rng.choice("ab/c") if char == "?" else char

    return ["".join(map(fill, pattern)) for _ in range(count)]
