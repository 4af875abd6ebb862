from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from cloud_broker.families.aws.catalogue import Catalogue
from cloud_broker.families.aws.ceiling import AutoApproveRule, Ceiling
from cloud_broker.families.aws.decide import decide
from cloud_broker.families.aws.request import AwsAccessRequest
from cloud_broker.policy.decision import Decision, Outcome, Pair

ACCOUNT = "123456789012"
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
REPORTS = ("arn:aws:s3:::reports", "arn:aws:s3:::reports/*")


def ask(
    actions: tuple[str, ...] = ("s3:GetObject", "s3:ListBucket"),
    resources: tuple[str, ...] = REPORTS,
    regions: tuple[str, ...] = ("us-east-1",),
    ttl: int = 900,
    account: str = ACCOUNT,
) -> AwsAccessRequest:
    return AwsAccessRequest(account, actions, resources, regions, timedelta(seconds=ttl))


def run(req: AwsAccessRequest, ceiling: Ceiling | None, catalogue: Catalogue) -> Decision:
    return decide(req, ceiling, team="data", catalogue=catalogue, now=NOW)


def with_rules(ceiling: Ceiling, *rules: AutoApproveRule) -> Ceiling:
    return dataclasses.replace(ceiling, auto_approve=rules)


def denied(decision: Decision, *fragments: str) -> bool:
    reason = decision.reason or ""
    return decision.outcome is Outcome.HARD_DENY and all(f in reason for f in fragments)


# --- the worked example ----------------------------------------------------------------------


def test_worked_example_is_auto_approved_without_reason(ceiling: Ceiling, catalogue: Catalogue) -> None:
    decision = run(ask(), ceiling, catalogue)
    assert decision.outcome is Outcome.AUTO_APPROVE
    assert decision.reason is None
    assert decision.uncovered == ()
    assert set(decision.covered) == {
        Pair("s3:GetObject", "arn:aws:s3:::reports/*", "reports-read"),
        Pair("s3:ListBucket", "arn:aws:s3:::reports", "reports-read"),
        Pair("s3:ListBucket", "arn:aws:s3:::reports/*", "reports-read"),
    }
    assert decision.not_applicable == (Pair("s3:GetObject", "arn:aws:s3:::reports"),)


def test_writing_where_the_rule_only_reads_is_routed_to_an_approver(ceiling: Ceiling, catalogue: Catalogue) -> None:
    decision = run(ask(("s3:PutObject",), ("arn:aws:s3:::reports/*",)), ceiling, catalogue)
    assert decision.outcome is Outcome.ROUTE_TO_APPROVER
    assert decision.reason is not None and "s3:PutObject on arn:aws:s3:::reports/*" in decision.reason
    assert decision.uncovered == (Pair("s3:PutObject", "arn:aws:s3:::reports/*"),)


# --- hard denials, in order of severity -------------------------------------------------------


def test_an_account_without_ceiling_is_not_enrolled(catalogue: Catalogue) -> None:
    assert denied(run(ask(), None, catalogue), f"account {ACCOUNT} is not enrolled for team data")


def test_a_ceiling_of_another_account_is_refused(ceiling: Ceiling, catalogue: Catalogue) -> None:
    assert denied(run(ask(account="999999999999"), ceiling, catalogue), "999999999999")


def test_a_region_outside_the_ceiling_is_denied(ceiling: Ceiling, catalogue: Catalogue) -> None:
    assert denied(run(ask(regions=("us-east-1", "ap-south-1")), ceiling, catalogue), "'ap-south-1'")


def test_a_request_without_region_is_denied(ceiling: Ceiling, catalogue: Catalogue) -> None:
    assert denied(run(ask(regions=()), ceiling, catalogue), "no region")


def test_a_ttl_over_the_ceiling_maximum_is_denied(ceiling: Ceiling, catalogue: Catalogue) -> None:
    assert denied(run(ask(ttl=7200), ceiling, catalogue), "7200s", "3600s")
    assert run(ask(ttl=3600), ceiling, catalogue).outcome is Outcome.AUTO_APPROVE


def test_a_wildcard_request_is_denied_when_denylist_intersects(ceiling: Ceiling, catalogue: Catalogue) -> None:
    decision = run(ask(("iam:*",), ("*",)), ceiling, catalogue)
    assert denied(decision, "'iam:*'", "'iam:PassRole'")


@pytest.mark.parametrize("action", ["iam:PassRole", "IAM:passrole", "iam:Pass*", "*:PassRole", "organizations:ListAccounts"])
def test_denylisted_actions_are_denied_in_any_case_or_pattern(ceiling: Ceiling, catalogue: Catalogue, action: str) -> None:
    assert denied(run(ask((action,), ("*",)), ceiling, catalogue), "denylisted")


def test_unknown_actions_are_denied_with_suggestions(ceiling: Ceiling, catalogue: Catalogue) -> None:
    decision = run(ask(("s3:GetObjekt", "s3:ListBucket")), ceiling, catalogue)
    assert denied(decision, "'s3:GetObjekt'", "s3:GetObject")
    assert decision.suggestions["s3:GetObjekt"][0] == "s3:GetObject"
    assert list(decision.suggestions) == ["s3:GetObjekt"]


def test_a_pattern_that_matches_no_action_is_unknown(ceiling: Ceiling, catalogue: Catalogue) -> None:
    assert denied(run(ask(("s3:Fly*",)), ceiling, catalogue), "unknown action")


@pytest.mark.parametrize(
    ("resource", "fragment"),
    [("reports", "is malformed"), ("arn:aws:s3:*", "is malformed"), ("arn:aws:sqs:us-east-1:999999999999:q", "names account")],
)
def test_malformed_or_foreign_resources_are_denied(ceiling: Ceiling, catalogue: Catalogue, resource: str, fragment: str) -> None:
    assert denied(run(ask(resources=(*REPORTS, resource)), ceiling, catalogue), repr(resource), fragment)


def test_a_request_that_grants_nothing_is_denied(ceiling: Ceiling, catalogue: Catalogue) -> None:
    decision = run(ask(("s3:ListAllMyBuckets",), ("arn:aws:s3:::reports",)), ceiling, catalogue)
    assert denied(decision, "grants nothing", "s3:ListAllMyBuckets on arn:aws:s3:::reports")
    assert decision.not_applicable == (Pair("s3:ListAllMyBuckets", "arn:aws:s3:::reports"),)


def test_a_session_policy_over_the_aws_limit_is_denied(ceiling: Ceiling, catalogue: Catalogue) -> None:
    resources = tuple(f"arn:aws:s3:::reports/{n:04d}/*" for n in range(100))
    decision = run(ask(("s3:GetObject",), resources), ceiling, catalogue)
    assert denied(decision, "session policy would be", "over AWS's 2,048 limit")
    assert len(decision.covered) == 100


def test_the_most_fundamental_denial_wins(ceiling: Ceiling, catalogue: Catalogue) -> None:
    everything_wrong = ask(("iam:*", "s3:GetObjekt"), ("nonsense",), regions=("ap-south-1",), ttl=7200)
    assert denied(run(everything_wrong, None, catalogue), "not enrolled")
    assert denied(run(everything_wrong, ceiling, catalogue), "region")
    assert denied(run(dataclasses.replace(everything_wrong, regions=("us-east-1",)), ceiling, catalogue), "ttl")
    fixed_ttl = dataclasses.replace(everything_wrong, regions=("us-east-1",), ttl=timedelta(seconds=900))
    assert denied(run(fixed_ttl, ceiling, catalogue), "denylisted")
    assert denied(run(dataclasses.replace(fixed_ttl, actions=("s3:GetObjekt",)), ceiling, catalogue), "unknown")


# --- coverage --------------------------------------------------------------------------------


def test_pairs_that_grant_nothing_need_no_cover(ceiling: Ceiling, catalogue: Catalogue) -> None:
    bucket_only = with_rules(ceiling, AutoApproveRule("list", ("s3:ListBucket", "s3:GetObject"), ("arn:aws:s3:::reports",)))
    decision = run(ask(resources=("arn:aws:s3:::reports",)), bucket_only, catalogue)
    assert decision.outcome is Outcome.AUTO_APPROVE
    assert decision.not_applicable == (Pair("s3:GetObject", "arn:aws:s3:::reports"),)


def test_a_requested_pattern_wider_than_the_rule_is_routed(ceiling: Ceiling, catalogue: Catalogue) -> None:
    decision = run(ask(("s3:GetObject",), ("arn:aws:s3:::reports*",)), ceiling, catalogue)
    assert decision.outcome is Outcome.ROUTE_TO_APPROVER


def test_a_requested_pattern_inside_the_rule_is_auto_approved(ceiling: Ceiling, catalogue: Catalogue) -> None:
    decision = run(ask(("s3:GetObject",), ("arn:aws:s3:::reports/2024/*.csv",)), ceiling, catalogue)
    assert decision.outcome is Outcome.AUTO_APPROVE


def test_requested_action_patterns_are_expanded_before_coverage(ceiling: Ceiling, catalogue: Catalogue) -> None:
    narrow = run(ask(("s3:Get*",), ("arn:aws:s3:::reports/*",)), ceiling, catalogue)
    assert narrow.outcome is Outcome.ROUTE_TO_APPROVER
    assert Pair("s3:GetObject", "arn:aws:s3:::reports/*", "reports-read") in narrow.covered
    wide = with_rules(ceiling, AutoApproveRule("get", ("S3:get*",), REPORTS))
    assert run(ask(("s3:Get*",), ("arn:aws:s3:::reports/*",)), wide, catalogue).outcome is Outcome.AUTO_APPROVE


def test_star_only_actions_are_covered_by_a_star_resource(ceiling: Ceiling, catalogue: Catalogue) -> None:
    rules = with_rules(ceiling, AutoApproveRule("buckets", ("s3:ListAllMyBuckets",), ("*",)))
    assert run(ask(("s3:ListAllMyBuckets",), ("*",)), rules, catalogue).outcome is Outcome.AUTO_APPROVE


def test_each_pair_may_be_covered_by_a_different_rule(ceiling: Ceiling, catalogue: Catalogue) -> None:
    rules = with_rules(
        ceiling,
        AutoApproveRule("read", ("s3:GetObject",), ("arn:aws:s3:::reports/*",)),
        AutoApproveRule("write", ("s3:PutObject",), ("arn:aws:s3:::uploads/*",)),
    )
    both = ask(("s3:GetObject", "s3:PutObject"), ("arn:aws:s3:::reports/*", "arn:aws:s3:::uploads/*"))
    decision = run(both, rules, catalogue)
    assert decision.outcome is Outcome.ROUTE_TO_APPROVER  # GetObject on uploads is in no rule
    assert set(decision.uncovered) == {
        Pair("s3:GetObject", "arn:aws:s3:::uploads/*"),
        Pair("s3:PutObject", "arn:aws:s3:::reports/*"),
    }
    read_reports = ask(("s3:GetObject",), ("arn:aws:s3:::reports/*",))
    write_uploads = ask(("s3:PutObject",), ("arn:aws:s3:::uploads/*",))
    assert [p.rule for p in run(read_reports, rules, catalogue).covered] == ["read"]
    assert [p.rule for p in run(write_uploads, rules, catalogue).covered] == ["write"]


def test_a_pair_is_not_covered_by_the_union_of_two_rules(ceiling: Ceiling, catalogue: Catalogue) -> None:
    split = with_rules(
        ceiling,
        AutoApproveRule("a", ("s3:GetObject",), ("arn:aws:s3:::reports/a*",)),
        AutoApproveRule("not-a", ("s3:GetObject",), ("arn:aws:s3:::reports/?*",)),
    )
    assert run(ask(("s3:GetObject",), ("arn:aws:s3:::reports/a*",)), split, catalogue).outcome is Outcome.AUTO_APPROVE
    assert run(ask(("s3:GetObject",), ("arn:aws:s3:::reports/*",)), split, catalogue).outcome is Outcome.ROUTE_TO_APPROVER


def test_route_reason_lists_ten_pairs_and_counts_the_rest(ceiling: Ceiling, catalogue: Catalogue) -> None:
    decision = run(ask(("s3:Put*",), ("arn:aws:s3:::reports/*",)), ceiling, catalogue)
    assert decision.outcome is Outcome.ROUTE_TO_APPROVER
    assert decision.reason is not None
    assert decision.reason.count(" on ") == 10
    assert f"and {len(decision.uncovered) - 10} more" in decision.reason


def test_a_ceiling_without_rules_routes_everything_grantable(ceiling: Ceiling, catalogue: Catalogue) -> None:
    assert run(ask(), with_rules(ceiling), catalogue).outcome is Outcome.ROUTE_TO_APPROVER


def test_repeated_decisions_give_the_same_answer(ceiling: Ceiling, catalogue: Catalogue) -> None:
    first = run(ask(("s3:Get*",)), ceiling, catalogue)
    assert run(ask(("s3:Get*",)), ceiling, catalogue) == first
    assert run(ask(("s3:Get*",)), dataclasses.replace(ceiling), catalogue) == first


def test_a_naive_now_is_refused(ceiling: Ceiling, catalogue: Catalogue) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        decide(ask(), ceiling, team="data", catalogue=catalogue, now=datetime(2025, 6, 1))


def test_a_request_naming_no_action_grants_nothing(ceiling: Ceiling, catalogue: Catalogue) -> None:
    assert denied(run(ask(actions=()), ceiling, catalogue), "grants nothing", "no action")


def test_a_requested_pattern_is_routed_when_only_todays_actions_are_covered(ceiling: Ceiling, catalogue: Catalogue) -> None:
    """The session policy keeps ``s3:GetObject*`` as written, so AWS would also grant actions added
    later; listing today's expansion in a rule must not auto-approve the pattern."""
    todays = tuple(sorted(catalogue.expand("s3:GetObject*")))
    listed = with_rules(ceiling, AutoApproveRule("listed", todays, REPORTS))
    decision = run(ask(("s3:GetObject*",), ("arn:aws:s3:::reports/*",)), listed, catalogue)
    assert decision.outcome is Outcome.ROUTE_TO_APPROVER
    assert decision.reason is not None and "'s3:GetObject*'" in decision.reason and not decision.uncovered
    closed = with_rules(ceiling, AutoApproveRule("pattern", ("s3:GetObject*",), REPORTS))
    assert run(ask(("s3:GetObject*",), ("arn:aws:s3:::reports/*",)), closed, catalogue).outcome is Outcome.AUTO_APPROVE


def test_the_explanation_of_a_huge_request_is_cut_but_counts_every_pair(ceiling: Ceiling, catalogue: Catalogue) -> None:
    decision = run(ask(("s3:*",), ("*",)), ceiling, catalogue)
    total = len(decision.covered) + len(decision.uncovered) + len(decision.not_applicable)
    assert total > 100
    block = decision.explanation(limit=5)
    assert all(len(block[name]) <= 5 for name in ("covered", "uncovered", "not_applicable"))
    assert sum(block["counts"].values()) == total
    assert "counts" not in run(ask(("s3:GetObject",), ("arn:aws:s3:::reports/a",)), ceiling, catalogue).explanation()
