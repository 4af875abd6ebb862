from __future__ import annotations

import dataclasses
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from cloud_broker.families.aws.ceiling import AutoApproveRule, Ceiling
from cloud_broker.policy.budget import Budget
from cloud_broker.policy.compiled import CompiledCeiling, compile_ceiling
from cloud_broker.policy.patterns import contains, matches

ACCOUNT = "123456789012"
ACTIONS = ("s3:GetObject", "s3:PutObject", "s3:ListBucket", "dynamodb:GetItem")
ACTION_PATTERNS = (*ACTIONS, "s3:*", "S3:get*", "*:GetItem", "*", "s3?:*", "dynamodb:*Item")
# Long literal runs over a tiny alphabet, so the substring index has something to bite on.
keys = st.text(alphabet="ab/*?", max_size=10)
resources = st.one_of(st.just("*"), keys.map(lambda k: f"arn:aws:s3:::{k}"))


def ceiling_of(*rules: AutoApproveRule) -> Ceiling:
    return Ceiling(ACCOUNT, timedelta(hours=1), ("us-east-1",), rules)


def covering(compiled: CompiledCeiling, action: str, resource: str) -> str | None:
    return compiled.covering_rule(compiled.rules_for_action(action), resource, Budget(10_000))


def linear_scan(ceiling: Ceiling, action: str, resource: str) -> str | None:
    for rule in ceiling.auto_approve:
        if any(matches(a, action, ignore_case=True) for a in rule.actions) and any(contains(r, resource) for r in rule.resources):
            return rule.name
    return None


rules = st.lists(
    st.tuples(
        st.lists(st.sampled_from(ACTION_PATTERNS), min_size=1, max_size=3),
        st.lists(resources, min_size=1, max_size=4),
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=300, deadline=None)
@given(rules, st.sampled_from(ACTIONS), resources)
def test_indexed_lookup_finds_the_same_rule_as_a_linear_scan(drawn: list, action: str, resource: str) -> None:  # type: ignore[type-arg]
    ceiling = ceiling_of(*(AutoApproveRule(f"r{i}", tuple(a), tuple(r)) for i, (a, r) in enumerate(drawn)))
    assert covering(CompiledCeiling(ceiling), action, resource) == linear_scan(ceiling, action, resource)


def test_the_first_covering_rule_in_ceiling_order_is_named() -> None:
    ceiling = ceiling_of(
        AutoApproveRule("narrow", ("s3:GetObject",), ("arn:aws:s3:::reports/2024/*",)),
        AutoApproveRule("broad", ("s3:*",), ("arn:aws:s3:::*",)),
    )
    compiled = CompiledCeiling(ceiling)
    assert covering(compiled, "s3:GetObject", "arn:aws:s3:::reports/2024/x") == "narrow"
    assert covering(compiled, "s3:GetObject", "arn:aws:s3:::reports/2023/x") == "broad"


def test_denylist_is_reached_through_patterns_on_either_side() -> None:
    compiled = CompiledCeiling(dataclasses.replace(ceiling_of(), action_denylist=("iam:Pass*",)))
    assert compiled.denied_by("IAM:*", Budget(1_000)) == ("iam:Pass*", True)
    assert compiled.denied_by("iam:P?ss*", Budget(1_000)) == ("iam:Pass*", True)
    assert compiled.denied_by("iam:Get*", Budget(1_000)) is None


def test_a_denylist_overlap_the_budget_cannot_settle_counts_as_a_hit() -> None:
    compiled = CompiledCeiling(dataclasses.replace(ceiling_of(), action_denylist=("iam:*Pass*",)))
    spent = Budget(0)
    assert compiled.denied_by("iam:*a*s*", spent) == ("iam:*Pass*", False)
    # The undecided answer is not remembered: with work to spare it is settled properly.
    assert compiled.denied_by("iam:*a*s*", Budget(1_000)) == ("iam:*Pass*", True)


def test_a_ceiling_is_compiled_once_and_equal_ceilings_share_it() -> None:
    ceiling = ceiling_of(AutoApproveRule("r", ("s3:GetObject",), ("arn:aws:s3:::x/*",)))
    assert compile_ceiling(ceiling) is compile_ceiling(ceiling)
    assert compile_ceiling(dataclasses.replace(ceiling)) is compile_ceiling(ceiling)
