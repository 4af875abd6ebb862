"""Trust policies decided exactly (moto let a condition on an absent key pass; extension)."""

from __future__ import annotations

from typing import Any

import pytest

from cloud_broker.sandbox.trust_policy import trust_allows

USER = "arn:aws:iam::123456789012:user/cloud-broker"
SESSION = "arn:aws:sts::123456789012:assumed-role/first/agent"
ROLE = "arn:aws:iam::123456789012:role/first"


def trust(principal: Any, condition: dict[str, Any] | None = None, effect: str = "Allow") -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": effect, "Principal": principal, "Action": "sts:AssumeRole"}
    if condition:
        statement["Condition"] = condition
    return {"Version": "2012-10-17", "Statement": [statement]}


EXTERNAL = {"StringEquals": {"sts:ExternalId": "ext-1"}}


@pytest.mark.parametrize(("given", "allowed"), [("ext-1", True), ("other", False), (None, False)])
def test_an_external_id_condition_needs_exactly_that_id(given: str | None, allowed: bool) -> None:
    assert trust_allows(trust({"AWS": USER}, EXTERNAL), "sts:AssumeRole", [USER],
                        {"sts:externalid": given}) is allowed


def test_an_unknown_condition_key_fails_closed() -> None:
    document = trust({"AWS": USER}, {"StringEquals": {"aws:SourceVpc": "vpc-1"}})
    assert not trust_allows(document, "sts:AssumeRole", [USER], {})


@pytest.mark.parametrize("principal", [{"AWS": ROLE}, {"AWS": SESSION}, {"AWS": "123456789012"},
                                       {"AWS": "arn:aws:iam::123456789012:root"}, "*", {"AWS": "*"}])
def test_principals_match_a_role_session_as_aws_does(principal: Any) -> None:
    assert trust_allows(trust(principal), "sts:AssumeRole", [SESSION, ROLE], {})


@pytest.mark.parametrize("principal", [{"AWS": "arn:aws:iam::210987654321:root"}, {"Service": "ec2.amazonaws.com"},
                                       {"AWS": "arn:aws:iam::123456789012:user/someone-else"}])
def test_other_principals_do_not_match(principal: Any) -> None:
    assert not trust_allows(trust(principal), "sts:AssumeRole", [USER], {})


def test_an_explicit_deny_wins_and_other_actions_are_not_allowed() -> None:
    document = trust({"AWS": USER})
    document["Statement"].append({"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "sts:TagSession"})
    assert trust_allows(document, "sts:AssumeRole", [USER], {})
    assert not trust_allows(document, "sts:TagSession", [USER], {})
    assert not trust_allows(document, "sts:SetSourceIdentity", [USER], {})
