"""Requests shaped to exhaust the policy engine get an answer, and the safe one.

The timeouts are hang guards, not speed assertions: before the engine had a work budget, the
first request here took minutes and the second several seconds (bench/adversarial_bench.py
measures the real figures).
"""

from __future__ import annotations

import pytest

from cloud_broker.domain.limits import MAX_PAIRS

from .conftest import BrokerUnderTest

S3 = "arn:aws:s3:::"
# Two spellings of "a, then at least 24 characters" that no canonical form reconciles: deciding
# whether one contains the other exactly takes ~2^24 automaton states.
OUTER = f"{S3}reports/*a{'?' * 24}*"
INNER = f"{S3}reports/*a*b{'?' * 24}"


@pytest.mark.timeout(60, method="thread")
def test_a_resource_pair_with_exponential_containment_is_decided(bt: BrokerUnderTest) -> None:
    body = {**bt.grant_body(actions=["s3:GetObject"], resources=[OUTER, INNER])}
    body.pop("run_id")
    reply = bt.client.post("/aws/scope/preview", json=body, headers=bt.headers())
    assert reply.status_code == 200, reply.text
    # Both are inside reports/*, which the ceiling's rule covers: proving that is cheap, and the
    # comparison of the two with each other (session-policy compaction) is what the budget cut.
    assert reply.json()["would"] == "auto_approve"


@pytest.mark.timeout(60, method="thread")
def test_many_spellings_of_broad_patterns_are_one_pattern_and_the_product_is_capped(bt: BrokerUnderTest) -> None:
    spellings = [f"ec2:{'*' * k}" for k in range(1, 41)] + [f"s3:{'*' * k}" for k in range(1, 41)]
    resources = [f"{S3}b{i}/*" for i in range(100)]
    before = bt.counts()
    body = bt.grant_body(actions=spellings, resources=resources)
    reply = bt.client.post("/aws/grants", json=body, headers=bt.headers())
    assert reply.status_code == 200, reply.text
    granted = reply.json()
    assert granted["status"] == "denied"
    assert f"over the limit of {MAX_PAIRS:,}" in granted["denial_reason"]
    grants, secrets, audit = bt.counts()
    assert (grants, secrets) == (before[0] + 1, before[1])  # recorded as denied, nothing minted
