"""The GCP sections of broker.yaml are checked as requests are: identifiers by their grammar,
permissions against the catalogue (with the nearest names), rules within their ceiling."""

from __future__ import annotations

from typing import Any

import pytest

from cloud_broker.config import parse_config
from cloud_broker.errors import ConfigError
from cloud_broker.families.gcp import lookups

SA = "agent@reports-prod-42.iam.gserviceaccount.com"


def raw(**ceiling: Any) -> dict[str, Any]:
    return {
        "approvers": [{"name": "alice"}, {"name": "bob"}],
        "teams": [{"name": "data"}],
        "gcp_projects": [{"project_id": "reports-prod-42", "display_name": "Reports"}],
        "gcp_ceilings": [{
            "team": "data", "project_id": "reports-prod-42", "service_account": SA, "max_ttl_seconds": 3600,
            "approvers": ["alice", "bob"], "allowed_permissions": ["storage.objects.*"],
            "resource_patterns": ["projects/_/buckets/reports/objects/*"],
            "auto_approve": [{"name": "read", "permissions": ["storage.objects.get"],
                              "resources": ["projects/_/buckets/reports/objects/*"]}],
            "approval_rules": [{"name": "writes", "access_levels": ["Write"], "required_approvals": 2}],
            **ceiling,
        }],
    }


def problems(data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as refused:
        parse_config(data)
    return "\n".join(refused.value.problems)


def test_a_valid_gcp_section_loads_into_the_engines_ceiling() -> None:
    config = parse_config(raw())
    ceiling = lookups.ceiling(config, "data", "reports-prod-42")
    assert ceiling is not None and ceiling.service_account == SA and ceiling.target == "reports-prod-42"
    assert ceiling.approval_rules[0].access_levels == ("write",) and ceiling.approval_rules[0].required_approvals == 2
    assert lookups.ceiling(config, "data", "other-project") is None
    assert [p.project_id for p in lookups.projects_for_team(config, "data")] == ["reports-prod-42"]


@pytest.mark.parametrize(("change", "fragment"), [
    ({"allowed_permissions": ["storage.objects.gte"]}, "did you mean storage.objects.get"),
    ({"permission_denylist": ["storage.objcts.*"]}, "matches no GCP permission"),
    ({"service_account": "agent@example.com"}, "not a service account e-mail"),
    ({"project_id": "Reports"}, "not a GCP project id"),
    ({"project_id": "unknown-project"}, "project unknown-project is not enrolled"),
    ({"resource_patterns": ["projects/_/buckets/finance/objects/*"]}, "not within the ceiling's resource_patterns"),
    ({"allowed_permissions": ["storage.buckets.get"]}, "not within the ceiling's allowed_permissions"),
    ({"approval_rules": [{"name": "x", "access_levels": ["root"]}]}, "not a GCP access level"),
    ({"allowed_permissions": ["storage.objects.*", "pubsub.topics.publish"]}, "allow_service_account_tokens: true"),
    ({"allowed_permissions": ["storage.objects.*", "pubsub.topics.publish"], "allow_service_account_tokens": True,
      "resource_patterns": ["projects/_/buckets/reports/objects/*", "projects/reports-prod-42/*"],
      "auto_approve": [{"name": "pub", "permissions": ["pubsub.topics.publish"],
                        "resources": ["projects/reports-prod-42/*"]}]}, "no rule can auto-approve it"),
])
def test_mistakes_in_a_gcp_ceiling_are_reported_where_they_are(change: dict[str, Any], fragment: str) -> None:
    assert fragment in problems(raw(**change))


def test_a_service_account_serves_one_team() -> None:
    data = raw()
    data["teams"].append({"name": "web"})
    data["gcp_ceilings"].append({**data["gcp_ceilings"][0], "team": "web"})
    assert "already team 'data''s" in problems(data)


def test_two_ceilings_for_one_team_and_project_are_refused() -> None:
    data = raw()
    data["gcp_ceilings"].append(dict(data["gcp_ceilings"][0]))
    assert "ceiling for this team and project" in problems(data)
