"""Soundness of auto-approval, checked against an independent oracle.

Whenever decide() auto-approves, every concrete (action, ARN) the session policy allows must
be allowed by one single rule of the ceiling. Concrete ARNs are sampled from the policy's
resource patterns and the action's ARN formats; the oracle is plain regex matching.
"""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, datetime, timedelta
from functools import cache

from hypothesis import event, given, settings
from hypothesis import strategies as st

from cloud_broker.families.aws.catalogue import Catalogue
from cloud_broker.families.aws.ceiling import AutoApproveRule, Ceiling
from cloud_broker.families.aws.decide import decide
from cloud_broker.families.aws.request import AwsAccessRequest
from cloud_broker.families.aws.session_policy import build_session_policy
from cloud_broker.policy import patterns
from cloud_broker.policy.budget import Budget
from cloud_broker.policy.decision import Outcome

ACCOUNT = "123456789012"
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
ACTIONS = ("s3:GetObject", "s3:PutObject", "s3:ListBucket", "s3:GetBucketPolicy", "s3:ListAllMyBuckets", "s3:DeleteObject")
REQUESTED_ACTIONS = (*ACTIONS, "s3:*Object", "s3:Get*Policy", "s3:getobject")
RULE_ACTIONS = (*REQUESTED_ACTIONS, "s3:List*", "s3:*")
FILLER = "ab/c"  # c stands for every character the patterns never name
SAMPLES = 4

names = st.text(alphabet="ab/*?", min_size=1, max_size=4)
resources = st.one_of(st.just("*"), names.map(lambda n: f"arn:aws:s3:::{n}"))


def tuples(elements: st.SearchStrategy[str]) -> st.SearchStrategy[tuple[str, ...]]:
    return st.lists(elements, min_size=1, max_size=3, unique=True).map(tuple)


@st.composite
def ceilings(draw: st.DrawFn) -> Ceiling:
    rules = draw(st.lists(st.tuples(tuples(st.sampled_from(RULE_ACTIONS)), tuples(resources)), min_size=1, max_size=3))
    return Ceiling(
        account_id=ACCOUNT,
        max_ttl=timedelta(hours=1),
        allowed_regions=("us-east-1",),
        auto_approve=tuple(AutoApproveRule(f"rule-{i}", a, r) for i, (a, r) in enumerate(rules)),
        action_denylist=draw(st.sampled_from([(), ("s3:DeleteObject",)])),
    )


@st.composite
def requests(draw: st.DrawFn, ceiling: Ceiling) -> AwsAccessRequest:
    # Half the time, narrow one rule: that is where auto-approvals (and mistakes) happen.
    if draw(st.booleans()):
        rule = draw(st.sampled_from(ceiling.auto_approve))
        actions = tuple(a for a in rule.actions if a in REQUESTED_ACTIONS) or draw(tuples(st.sampled_from(ACTIONS)))
        suffix = st.text(alphabet="ab/*?", max_size=2)
        chosen = tuple(dict.fromkeys(r if r == "*" else r + draw(suffix) for r in rule.resources))
    else:
        actions = draw(tuples(st.sampled_from(REQUESTED_ACTIONS)))
        chosen = draw(tuples(resources))
    return AwsAccessRequest(ACCOUNT, actions, chosen, ("us-east-1",))


@settings(max_examples=500, deadline=None)
@given(data=st.data(), ceiling=ceilings(), seed=st.integers(0, 2**32), work=st.one_of(st.none(), st.integers(0, 150)))
def test_auto_approved_policies_allow_nothing_beyond_a_single_rule(
    data: st.DataObject, ceiling: Ceiling, seed: int, work: int | None,
) -> None:
    # ``work`` starves the decision's budget: what it cannot prove must never be let through.
    catalogue = Catalogue.default()
    request = data.draw(requests(ceiling))
    patterns.cache_clear()
    budget = None if work is None else Budget(work)
    decision = decide(request, ceiling, team="t", catalogue=catalogue, now=NOW, budget=budget)
    event(decision.outcome.value)
    if decision.outcome is not Outcome.AUTO_APPROVE:
        return
    policy = json.loads(build_session_policy(request, expires_at=NOW + request.ttl, catalogue=catalogue))
    rng = random.Random(seed)
    for action, arn in allowed_pairs(policy, catalogue, rng):
        assert any(rule_allows(rule, action, arn) for rule in ceiling.auto_approve), (action, arn, policy)


def allowed_pairs(policy: dict, catalogue: Catalogue, rng: random.Random):  # type: ignore[no-untyped-def, type-arg]
    for statement in policy["Statement"]:
        for entry in statement["Action"]:
            for action in catalogue.expand(entry):
                for resource in statement["Resource"]:
                    for arn in concrete_arns(resource, catalogue.resource_arn_formats(action), rng):
                        assert oracle(resource).fullmatch(arn) and oracle(entry, True).fullmatch(action)
                        yield action, arn


def concrete_arns(resource: str, formats: tuple[str, ...], rng: random.Random) -> list[str]:
    """ARNs the policy really allows for the action: matched by the policy's resource pattern
    and of one of the action's types (``*`` itself for actions that only support ``*``)."""
    if not formats:
        return ["*"] if oracle(resource).fullmatch("*") else []
    aws_formats = [f.replace("arn:*:", "arn:aws:", 1) for f in formats]
    candidates = [instantiate(p, rng) for p in (resource, *aws_formats) for _ in range(SAMPLES)]
    return [c for c in candidates if oracle(resource).fullmatch(c) and any(oracle(f).fullmatch(c) for f in aws_formats)]


def instantiate(pattern: str, rng: random.Random) -> str:
    def fill(char: str) -> str:
        if char == "*":
            return "".join(rng.choice(FILLER) for _ in range(rng.randint(0, 3)))
        return rng.choice(FILLER) if char == "?" else char

    return "".join(map(fill, pattern))


def rule_allows(rule: AutoApproveRule, action: str, arn: str) -> bool:
    return any(oracle(a, True).fullmatch(action) for a in rule.actions) and any(oracle(r).fullmatch(arn) for r in rule.resources)


@cache
def oracle(pattern: str, ignore_case: bool = False) -> re.Pattern[str]:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(regex, re.DOTALL | (re.IGNORECASE if ignore_case else 0))
