"""The GCP engine decides on what the token will effectively carry (the boundary's roles), never
on the words of the request alone; and what it cannot bound, it refuses or sends to a person."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloud_broker.families.gcp.catalogue import GcpCatalogue
from cloud_broker.families.gcp.ceiling import GcpCeiling
from cloud_broker.families.gcp.decide import ACCESS_BOUNDARY, SERVICE_ACCOUNT_BINDINGS, decide, enforcement
from cloud_broker.families.gcp.request import GcpAccessRequest
from cloud_broker.policy.budget import Budget
from cloud_broker.policy.decision import Outcome
from cloud_broker.policy.patterns import contains, matcher
from cloud_broker.policy.rules import AutoApproveRule

PROJECT = "reports-prod-42"
SA = "agent@reports-prod-42.iam.gserviceaccount.com"
BUCKET, OBJECTS = "projects/_/buckets/reports", "projects/_/buckets/reports/objects/*"
VIEWER = ("storage.objects.get", "storage.objects.list", "storage.folders.get", "storage.folders.list",
          "storage.managedFolders.get", "storage.managedFolders.list")


def ceiling(**changes: object) -> GcpCeiling:
    fields: dict[str, object] = dict(
        project_id=PROJECT, service_account=SA, max_ttl=timedelta(hours=1),
        allowed_permissions=("storage.objects.*", "storage.folders.*", "storage.managedFolders.*",
                             "storage.multipartUploads.*", "storage.buckets.get", "pubsub.topics.publish"),
        resource_patterns=(BUCKET, OBJECTS, "projects/_/buckets/finance/objects/*", "projects/reports-prod-42/*"),
        auto_approve=(AutoApproveRule("read-reports", VIEWER, (BUCKET, OBJECTS)),),
        permission_denylist=("storage.objects.setIamPolicy",), approvers=("alice",))
    fields.update(changes)
    return GcpCeiling(**fields)  # type: ignore[arg-type]


def ask(permissions: list[str], resources: list[str], ttl: int = 900, project: str = PROJECT) -> GcpAccessRequest:
    return GcpAccessRequest(project, tuple(permissions), tuple(resources), timedelta(seconds=ttl))


def run(request: GcpAccessRequest, catalogue: GcpCatalogue, **changes: object):  # type: ignore[no-untyped-def]
    return decide(request, ceiling(**changes), team="data", catalogue=catalogue)


def test_a_read_auto_approves_when_the_rule_names_everything_its_role_grants(catalogue: GcpCatalogue) -> None:
    decision = run(ask(["storage.objects.get", "storage.objects.list"], [BUCKET, OBJECTS]), catalogue)
    assert decision.outcome is Outcome.AUTO_APPROVE
    assert decision.facts["enforced_by"] == ACCESS_BOUNDARY
    assert decision.facts["roles"] == ["roles/storage.objectViewer"]
    assert set(decision.facts["effective_permissions"]) == set(VIEWER)


def test_a_rule_naming_only_the_words_of_the_request_does_not_auto_approve_the_widened_token(
    catalogue: GcpCatalogue,
) -> None:
    narrow = (AutoApproveRule("words-only", ("storage.objects.get", "storage.objects.list"), (BUCKET, OBJECTS)),)
    decision = run(ask(["storage.objects.get", "storage.objects.list"], [BUCKET, OBJECTS]), catalogue,
                   auto_approve=narrow)
    assert decision.outcome is Outcome.ROUTE_TO_APPROVER
    assert decision.reason is not None and "storage.folders.get" in decision.reason
    assert "roles/storage.objectViewer" in decision.reason and "beyond what was asked" in decision.reason


def test_listing_a_prefix_of_everything_opens_the_bucket_and_that_is_covered_too(catalogue: GcpCatalogue) -> None:
    read = ask(["storage.objects.get", "storage.objects.list"], [OBJECTS])
    objects_only = (AutoApproveRule("objects", VIEWER, (OBJECTS,)),)
    decision = run(read, catalogue, auto_approve=objects_only)
    assert decision.outcome is Outcome.ROUTE_TO_APPROVER
    assert decision.reason is not None and f"on {BUCKET}" in decision.reason
    assert run(read, catalogue).outcome is Outcome.AUTO_APPROVE


def test_a_write_routes_and_another_bucket_routes(catalogue: GcpCatalogue) -> None:
    assert run(ask(["storage.objects.create"], [OBJECTS]), catalogue).outcome is Outcome.ROUTE_TO_APPROVER
    finance = run(ask(["storage.objects.get"], ["projects/_/buckets/finance/objects/*"]), catalogue)
    assert finance.outcome is Outcome.ROUTE_TO_APPROVER and finance.facts["enforced_by"] == ACCESS_BOUNDARY


def test_roles_granting_more_than_the_ceiling_allows_are_refused_not_routed(catalogue: GcpCatalogue) -> None:
    decision = run(ask(["storage.objects.create"], [OBJECTS]), catalogue,
                   allowed_permissions=("storage.objects.*",))
    assert decision.outcome is Outcome.HARD_DENY
    assert decision.reason is not None and "roles/storage.objectCreator" in decision.reason
    assert "storage.folders.create" in decision.reason and "outside the ceiling" in decision.reason


@pytest.mark.parametrize(("request_", "fragment"), [
    (ask(["storage.objects.get"], [OBJECTS], project="other-project"), "ceiling is for"),
    (ask(["storage.objects.get"], [OBJECTS], ttl=7200), "max_ttl"),
    (ask(["storage.objects.*"], [OBJECTS]), "denylisted 'storage.objects.setIamPolicy'"),
    (ask(["storage.objects.gett"], [OBJECTS]), "did you mean storage.objects.get"),
    (ask(["compute.instances.start"], [OBJECTS]), "outside the ceiling's allowed permissions"),
    (ask(["storage.objects.get"], ["projects/_/buckets/archive/objects/*"]), "not within the ceiling's resource"),
    (ask(["storage.objects.get", "pubsub.topics.publish"], [OBJECTS]), "mixes Cloud Storage with pubsub"),
    (ask(["storage.objects.get"], ["projects/_/buckets/reports/objects/*.csv"]), "by exact name or by prefix"),
    (ask(["storage.objects.get"], ["projects/_/buckets/reports/objects/it's"]), "quotes"),
])
def test_what_cannot_be_granted_or_bounded_is_refused_with_the_reason(
    catalogue: GcpCatalogue, request_: GcpAccessRequest, fragment: str
) -> None:
    decision = run(request_, catalogue)
    assert decision.outcome is Outcome.HARD_DENY
    assert decision.reason is not None and fragment in decision.reason


def test_unknown_permissions_come_with_the_nearest_names(catalogue: GcpCatalogue) -> None:
    decision = run(ask(["storage.objects.gett"], [OBJECTS]), catalogue)
    assert decision.suggestions["storage.objects.gett"][0] == "storage.objects.get"


def test_outside_cloud_storage_there_is_no_boundary_so_a_person_decides(catalogue: GcpCatalogue) -> None:
    rule = (AutoApproveRule("publish", ("pubsub.topics.publish",), ("projects/reports-prod-42/*",)),)
    publish = ask(["pubsub.topics.publish"], ["projects/reports-prod-42/topics/events"])
    decision = run(publish, catalogue, auto_approve=rule, allow_service_account_tokens=True)
    assert decision.outcome is Outcome.ROUTE_TO_APPROVER, "even a covering rule cannot vouch for the bindings"
    assert decision.facts == {"enforced_by": SERVICE_ACCOUNT_BINDINGS}
    assert decision.reason is not None and SA in decision.reason
    refused = run(publish, catalogue, auto_approve=rule)
    assert refused.outcome is Outcome.HARD_DENY and "allow_service_account_tokens" in (refused.reason or "")


def test_a_bucket_a_listing_would_open_must_be_within_the_ceiling(catalogue: GcpCatalogue) -> None:
    decision = run(ask(["storage.objects.get", "storage.objects.list"], [OBJECTS]), catalogue,
                   resource_patterns=(OBJECTS,))
    assert decision.outcome is Outcome.HARD_DENY and f"open {BUCKET} itself" in (decision.reason or "")


def test_approval_rules_and_narrowing_see_the_effective_permissions(catalogue: GcpCatalogue) -> None:
    from cloud_broker.families.gcp.effective import approval_actions, narrowing_problem

    scope = {"permissions": ("storage.objects.get", "storage.objects.update", "storage.objects.getIamPolicy"),
             "resources": (OBJECTS,)}
    assert "storage.objects.setIamPolicy" in approval_actions(scope, catalogue), "the role's, not the words"
    assert approval_actions({"permissions": ("pubsub.topics.publish",), "resources": ("*",)}, catalogue) == ("*",)
    fewer = {**scope, "permissions": ("storage.objects.get", "storage.objects.update")}
    assert "also grant" in (narrowing_problem(scope, fewer, catalogue) or "")
    listed = {"permissions": ("storage.objects.get", "storage.objects.list"), "resources": (BUCKET, OBJECTS)}
    assert f"still opens {BUCKET}" in (narrowing_problem(listed, {**listed, "resources": (OBJECTS,)}, catalogue) or "")
    read_write = {"permissions": ("storage.objects.get", "storage.objects.list", "storage.objects.create"),
                  "resources": (OBJECTS,)}
    assert narrowing_problem(read_write, {**read_write, "permissions": ("storage.objects.create",)}, catalogue) is None


def test_more_than_ten_buckets_cannot_be_one_boundary(catalogue: GcpCatalogue) -> None:
    buckets = [f"projects/_/buckets/b{n:02d}x/objects/*" for n in range(11)]
    decision = run(ask(["storage.objects.get"], buckets), catalogue, resource_patterns=("projects/_/buckets/*",))
    assert decision.outcome is Outcome.HARD_DENY and decision.reason is not None and "at most 10" in decision.reason


def test_the_role_search_is_bounded_by_the_budget_and_answers_safely(catalogue: GcpCatalogue) -> None:
    budget = Budget(3)
    request = ask(["storage.objects.get", "storage.objects.create", "storage.objects.delete"], [OBJECTS])
    decision = decide(request, ceiling(), team="data", catalogue=catalogue, budget=budget)
    assert budget.exhausted and decision.outcome is not Outcome.AUTO_APPROVE


STORAGE = sorted(p for p in GcpCatalogue.default().expand("storage.objects.*") | {"storage.buckets.get"}
                 if not p.endswith("IamPolicy"))
RESOURCES = [BUCKET, OBJECTS, "projects/_/buckets/reports/objects/daily/*",
             "projects/_/buckets/reports/objects/today.csv", "projects/_/buckets/finance/objects/*"]
RULE_PERMISSIONS = st.lists(st.sampled_from([*STORAGE, *VIEWER, "storage.folders.*", "storage.*"]), min_size=1,
                            max_size=6)
RULES = st.lists(st.tuples(RULE_PERMISSIONS, st.lists(st.sampled_from([*RESOURCES, "projects/_/buckets/*/objects/*"]),
                                                      min_size=1, max_size=3)), max_size=3)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(permissions=st.lists(st.sampled_from(STORAGE), min_size=1, max_size=4),
       resources=st.lists(st.sampled_from(RESOURCES), min_size=1, max_size=3), rules=RULES)
def test_an_auto_approval_covers_every_effective_permission_on_every_resource(
    catalogue: GcpCatalogue, permissions: list[str], resources: list[str], rules: list
) -> None:
    """Soundness: whatever the rules, an auto-approved token carries nothing a rule does not cover,
    and nothing the ceiling does not allow."""
    auto = tuple(AutoApproveRule(f"r{i}", tuple(p), tuple(r)) for i, (p, r) in enumerate(rules))
    limits = ceiling(auto_approve=auto, allowed_permissions=("storage.*",), permission_denylist=(),
                     resource_patterns=("projects/_/buckets/*",))
    request = ask(permissions, resources)
    decision = decide(request, limits, team="data", catalogue=catalogue)
    if decision.outcome is Outcome.HARD_DENY:
        return
    enforced = enforcement(request, catalogue)
    assert set(decision.facts["effective_permissions"]) == set(enforced.effective)
    assert set(permissions) <= enforced.effective, "the roles hold at least what was asked"
    if decision.outcome is Outcome.AUTO_APPROVE:
        assert enforced.boundary is not None
        for permission in enforced.effective:
            for resource in (*resources, *enforced.boundary.widened):
                assert any(matcher(p, ignore_case=True)(permission) and any(contains(r, resource) for r in rule.resources)
                           for rule in auto for p in rule.actions), (permission, resource)


def test_a_hostile_resource_pattern_is_paid_from_the_budget_and_refused_safely(catalogue: GcpCatalogue) -> None:
    """The shape that makes exact glob containment exponential (~2^18 states), between the
    ceiling's pattern and the request's: the work is paid from the decision's budget, and the
    question the budget cannot settle is answered the safe way (not within: refused)."""
    from cloud_broker.domain.limits import DECISION_WORK

    prefix = "projects/_/buckets/reports/objects/"
    outer, inner = prefix + "*a" + "?" * 18 + "*", prefix + "*a*b" + "?" * 18
    budget = Budget(DECISION_WORK)
    decision = decide(ask(["storage.objects.get"], [inner]), ceiling(resource_patterns=(outer,)), team="data",
                      catalogue=catalogue, budget=budget)
    assert budget.exhausted
    assert decision.outcome is Outcome.HARD_DENY and "work budget" in (decision.reason or "")


def test_pattern_and_pair_caps_bound_a_gcp_request(catalogue: GcpCatalogue) -> None:
    from cloud_broker.domain.limits import MAX_ACTION_PATTERNS, MAX_PAIRS

    patterns_ = [f"storage.objects.{'?' * n}*" for n in range(MAX_ACTION_PATTERNS + 1)]
    too_many = run(ask(patterns_, [OBJECTS]), catalogue)
    assert too_many.outcome is Outcome.HARD_DENY and f"limit of {MAX_ACTION_PATTERNS}" in (too_many.reason or "")
    resources = [f"{BUCKET}/objects/r{n}/*" for n in range(100)]
    wide = run(ask(["*"], resources), catalogue, allowed_permissions=("*",), permission_denylist=(),
               resource_patterns=(OBJECTS,))
    assert len(catalogue.expand("*")) * 100 > MAX_PAIRS
    assert wide.outcome is Outcome.HARD_DENY and f"limit of {MAX_PAIRS:,}" in (wide.reason or "")
