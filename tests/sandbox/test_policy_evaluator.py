"""Statement and policy evaluation, and the role-AND-session intersection AWS applies."""

from __future__ import annotations

import pytest

from cloud_broker.sandbox.policy_evaluator import (
    Decision,
    MalformedPolicy,
    Request,
    combine,
    evaluate_policy,
    is_allowed,
    parse_statements,
)

from .support import FUTURE, PAST, allow, deny, policy, read_reports_grant

VALUES = {"aws:currenttime": "2025-06-01T12:00:00Z", "aws:requestedregion": "us-east-1"}
GET_TODAY = Request("s3:GetObject", "arn:aws:s3:::reports/today.csv", VALUES)
PUT_TODAY = Request("s3:PutObject", "arn:aws:s3:::reports/today.csv", VALUES)
GET_Q3 = Request("s3:GetObject", "arn:aws:s3:::finance/q3.csv", VALUES)
BROAD_ROLE = policy(allow("s3:*", "*"))


def test_action_globs_are_case_insensitive() -> None:
    """AWS matches action names case-insensitively, with '*' and '?' wildcards (extension: our evaluator)."""
    assert evaluate_policy(policy(allow("S3:get*", "*")), GET_TODAY) is Decision.ALLOW
    assert evaluate_policy(policy(allow("s3:?etObject", "*")), GET_TODAY) is Decision.ALLOW
    assert evaluate_policy(policy(allow("s3:Get", "*")), GET_TODAY) is Decision.NOT_APPLICABLE


def test_not_action_applies_to_every_other_action() -> None:
    """AWS NotAction: the statement covers all actions except those listed (extension: our evaluator)."""
    statement = {"Effect": "Allow", "NotAction": "s3:Put*", "Resource": "*"}
    assert evaluate_policy(policy(statement), GET_TODAY) is Decision.ALLOW
    assert evaluate_policy(policy(statement), PUT_TODAY) is Decision.NOT_APPLICABLE


def test_resource_globs_are_case_sensitive_and_not_resource_excludes() -> None:
    """AWS Resource ARNs match case-sensitively; NotResource covers everything else (extension: our
    evaluator).
    """
    assert (
        evaluate_policy(policy(allow("s3:GetObject", "arn:aws:s3:::reports/*")), GET_Q3)
        is Decision.NOT_APPLICABLE
    )
    assert (
        evaluate_policy(policy(allow("s3:GetObject", "arn:aws:s3:::REPORTS/*")), GET_TODAY)
        is Decision.NOT_APPLICABLE
    )
    not_finance = {"Effect": "Allow", "Action": "s3:GetObject", "NotResource": "arn:aws:s3:::finance/*"}
    assert evaluate_policy(policy(not_finance), GET_TODAY) is Decision.ALLOW
    assert evaluate_policy(policy(not_finance), GET_Q3) is Decision.NOT_APPLICABLE


def test_explicit_deny_beats_any_allow() -> None:
    """AWS: an explicit Deny overrides every Allow (extension: our evaluator)."""
    document = policy(allow("s3:*", "*"), deny("s3:GetObject", "arn:aws:s3:::reports/today.csv"))
    assert evaluate_policy(document, GET_TODAY) is Decision.DENY
    assert combine([Decision.ALLOW, Decision.DENY, Decision.NOT_APPLICABLE]) is Decision.DENY
    assert combine([Decision.NOT_APPLICABLE, Decision.ALLOW]) is Decision.ALLOW
    assert combine([]) is Decision.NOT_APPLICABLE


def test_a_failed_condition_leaves_an_allow_not_applicable_rather_than_denying() -> None:
    """AWS: a false condition means the statement does not apply (moto turns it into a Deny)."""
    document = policy(allow("s3:GetObject", "*", StringEquals={"aws:RequestedRegion": "eu-west-1"}))
    assert evaluate_policy(document, GET_TODAY) is Decision.NOT_APPLICABLE


def test_an_allow_on_a_key_the_request_context_lacks_does_not_allow() -> None:
    """Fail closed: an Allow whose condition the emulator cannot evaluate (s3:max-keys is not
    modelled) grants nothing."""
    document = policy(allow("s3:GetObject", "*", NumericLessThan={"s3:max-keys": "10"}))
    assert evaluate_policy(document, GET_TODAY) is Decision.NOT_APPLICABLE


def test_a_deny_on_a_key_the_request_context_lacks_denies() -> None:
    """Fail closed: a Deny whose condition cannot be evaluated (aws:SourceIp is not modelled) is
    taken to apply."""
    document = policy(allow("s3:*", "*"), deny("s3:GetObject", "*", IpAddress={"aws:SourceIp": "10.0.0.0/8"}))
    assert evaluate_policy(document, GET_TODAY) is Decision.DENY


def test_a_deny_whose_other_condition_is_false_does_not_apply() -> None:
    """A Deny that a known-false condition rules out does not apply, unknowns aside (as in AWS)
    (extension: our evaluator).
    """
    document = policy(
        deny(
            "s3:GetObject",
            "*",
            IpAddress={"aws:SourceIp": "10.0.0.0/8"},
            StringEquals={"aws:RequestedRegion": "eu-west-1"},
        )
    )
    assert evaluate_policy(document, GET_TODAY) is Decision.NOT_APPLICABLE


def test_an_unknown_resource_is_allowed_only_by_a_resource_wildcard() -> None:
    """moto passes no resource for most non-S3 calls: only Resource '*' may allow; a Deny applies."""
    unknown = Request("sqs:SendMessage", None, VALUES)
    queue = "arn:aws:sqs:us-east-1:123456789012:q"
    assert evaluate_policy(policy(allow("sqs:*", "*")), unknown) is Decision.ALLOW
    assert evaluate_policy(policy(allow("sqs:*", queue)), unknown) is Decision.NOT_APPLICABLE
    assert evaluate_policy(policy(deny("sqs:*", queue)), unknown) is Decision.DENY


@pytest.mark.parametrize(
    "document",
    [
        "{not json",
        '{"Statement": []}',
        policy({"Effect": "allow", "Action": "s3:*", "Resource": "*"}),
        policy({"Effect": "Allow", "Action": "s3:*"}),
        policy({"Effect": "Allow", "Action": "s3:*", "NotAction": "s3:Put*", "Resource": "*"}),
        policy({"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Principal": "*"}),
        policy({"Effect": "Allow", "Action": [], "Resource": "*"}),
    ],
)
def test_a_malformed_policy_denies(document: str) -> None:
    """AWS would reject such a session policy at AssumeRole; evaluating it anyway must deny (extension:
    our evaluator).
    """
    assert evaluate_policy(document, GET_TODAY) is Decision.DENY
    with pytest.raises(MalformedPolicy):
        parse_statements(document)


def test_a_single_statement_object_is_accepted() -> None:
    """AWS accepts Statement as one object as well as a list (extension: our evaluator)."""
    assert evaluate_policy({"Statement": allow("s3:GetObject", "*")}, GET_TODAY) is Decision.ALLOW


def test_the_session_policy_narrows_what_the_role_allows() -> None:
    """AWS: a role session may do only what both the role and the session policy allow (extension: our
    evaluator).
    """
    grant = read_reports_grant()
    assert is_allowed(GET_TODAY, [BROAD_ROLE], grant)
    assert not is_allowed(PUT_TODAY, [BROAD_ROLE], grant)
    assert not is_allowed(GET_Q3, [BROAD_ROLE], grant)


def test_the_session_policy_cannot_grant_more_than_the_role() -> None:
    """AWS: a session policy only limits; it never adds permissions the role lacks (extension: our
    evaluator).
    """
    assert not is_allowed(PUT_TODAY, [policy(allow("s3:GetObject", "*"))], policy(allow("s3:*", "*")))


def test_without_a_session_policy_the_role_policies_decide() -> None:
    """AWS: a session minted without Policy has the role's full permissions (extension: our evaluator)."""
    assert is_allowed(PUT_TODAY, [BROAD_ROLE], None)
    assert not is_allowed(PUT_TODAY, [], None)


def test_a_deny_in_any_role_policy_wins_over_the_session_policy() -> None:
    """AWS: an explicit Deny in an identity policy is final, whatever the session allows (extension:
    our evaluator).
    """
    role = [BROAD_ROLE, policy(deny("s3:*", "arn:aws:s3:::reports/*"))]
    assert not is_allowed(GET_TODAY, role, policy(allow("s3:*", "*")))


def test_a_grant_whose_deadline_passed_allows_nothing() -> None:
    """aws:CurrentTime bounds use of credentials independently of the STS session length (extension:
    our evaluator).
    """
    assert is_allowed(GET_TODAY, [BROAD_ROLE], read_reports_grant(until=FUTURE))
    assert not is_allowed(GET_TODAY, [BROAD_ROLE], read_reports_grant(until=PAST))
    assert not is_allowed(GET_TODAY, [BROAD_ROLE], read_reports_grant(region="eu-west-1"))


def test_a_statement_using_a_policy_variable_fails_closed() -> None:
    """Policy variables are not substituted: a 2012-10-17 statement using one neither allows nor is
    skipped when it denies (compared literally, such a Deny would silently never apply)."""
    home = "arn:aws:s3:::reports/${aws:userid}/*"
    request = Request("s3:GetObject", "arn:aws:s3:::reports/AROAX:cb-1/a.csv", VALUES)
    assert evaluate_policy(policy(allow("s3:GetObject", home)), request) is Decision.NOT_APPLICABLE
    assert evaluate_policy(policy(allow("s3:*", "*"), deny("s3:*", home)), request) is Decision.DENY
    conditional = deny("s3:*", "*", StringLike={"s3:prefix": "${aws:username}/*"})
    assert evaluate_policy(policy(allow("s3:*", "*"), conditional), request) is Decision.DENY


def test_the_2008_grammar_reads_variables_literally() -> None:
    """AWS: policy variables exist only in Version 2012-10-17; earlier policies match '${' as text."""
    old = {"Version": "2008-10-17", "Statement": [deny("s3:*", "arn:aws:s3:::reports/${aws:userid}/*")]}
    assert evaluate_policy(old, GET_TODAY) is Decision.NOT_APPLICABLE
