"""STS downscoping: a token narrowed by a boundary STS would accept, and every boundary it would refuse."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from google.auth import downscoped
from google.auth.exceptions import InvalidValue, OAuthError

from cloud_broker.sandbox.gcp import GcpDouble

from .conftest import downscope_on, impersonate_on
from .support import ACCESS_TOKEN, GCS, FrozenDouble, boundary_options, bucket, exchange, raw_rule, rule

VIEWER = "inRole:roles/storage.objectViewer"
PREFIX_CONDITION = "resource.name.startsWith('projects/_/buckets/reports/objects/today')"


def _refusal(response: Any) -> dict[str, Any]:
    assert response.status_code == 400
    body: dict[str, Any] = response.json()
    assert set(body) == {"error", "error_description"}
    return body


def _library_refusal(exc: pytest.ExceptionInfo[OAuthError]) -> str:
    return str(json.loads(exc.value.args[1])["error"])


def test_a_downscoped_token_is_a_bearer_token_that_expires_with_its_source(frozen_gcp: FrozenDouble) -> None:
    double = frozen_gcp.double
    source = str(impersonate_on(double, lifetime=900).token)
    options = boundary_options(raw_rule(bucket("reports"), [VIEWER]))

    first = exchange(double, source, options).json()
    frozen_gcp.clock.advance(timedelta(seconds=300))
    later = exchange(double, source, options).json()

    assert first["token_type"] == "Bearer" and first["issued_token_type"] == ACCESS_TOKEN
    assert (first["expires_in"], later["expires_in"]) == (900, 600)
    assert first["access_token"] not in (source, later["access_token"])


def test_a_boundary_of_eleven_rules_is_refused(gcp: GcpDouble) -> None:
    source = str(impersonate_on(gcp).token)
    ten = [raw_rule(bucket("reports"), [VIEWER])] * 10
    with pytest.raises(InvalidValue):  # google-auth refuses to build it, so the double is asked directly
        downscoped.CredentialAccessBoundary(rules=[rule("reports", "objectViewer")] * 11)

    assert exchange(gcp, source, boundary_options(*ten)).status_code == 200
    refusal = _refusal(exchange(gcp, source, boundary_options(*ten, raw_rule(bucket("reports"), [VIEWER]))))
    assert refusal["error"] == "invalid_request"


def test_a_boundary_without_rules_is_refused(gcp: GcpDouble) -> None:
    assert _refusal(exchange(gcp, str(impersonate_on(gcp).token), boundary_options()))["error"] == "invalid_request"


@pytest.mark.parametrize("permissions", [
    ["storage.objects.get"],
    ["roles/storage.objectViewer"],
    ["inRole:roles/storage.noSuchRole"],
    [VIEWER, "storage.objects.create"],
    [],
])
def test_permissions_other_than_known_roles_are_refused(gcp: GcpDouble, permissions: list[str]) -> None:
    response = exchange(gcp, str(impersonate_on(gcp).token), boundary_options(raw_rule(bucket("reports"), permissions)))

    assert _refusal(response)["error"] == "invalid_request"


@pytest.mark.parametrize("resource", [
    "//bigquery.googleapis.com/projects/cloud-broker-sandbox/datasets/sales",
    "//cloudresourcemanager.googleapis.com/projects/cloud-broker-sandbox",
    "//storage.googleapis.com/projects/_/buckets/reports/objects/today.csv",
    "//storage.googleapis.com/projects/cloud-broker-sandbox/buckets/reports",
    "reports",
])
def test_a_resource_other_than_a_storage_bucket_is_refused(gcp: GcpDouble, resource: str) -> None:
    boundary = downscoped.AccessBoundaryRule(available_resource=resource, available_permissions=[VIEWER])

    with pytest.raises(OAuthError) as refused:
        downscope_on(gcp, boundary)

    assert _library_refusal(refused) == "invalid_request"


def test_a_condition_over_2048_characters_is_refused(gcp: GcpDouble) -> None:
    def expression(length: int) -> str:
        head = "resource.name.startsWith('projects/_/buckets/reports/objects/"
        return head + "x" * (length - len(head) - 2) + "')"

    assert downscope_on(gcp, rule("reports", "objectViewer", expression=expression(2048))).valid
    with pytest.raises(OAuthError) as refused:
        downscope_on(gcp, rule("reports", "objectViewer", expression=expression(2049)))
    assert _library_refusal(refused) == "invalid_request"


@pytest.mark.parametrize("expression", [
    "resource.name.startsWith(",
    "resource.name",
    "request.time < timestamp('2031-01-01T00:00:00Z')",
    "resource.labels.team == 'data'",
    "resource.getAttribute('storage.googleapis.com/objectListPrefix', '') == ''",
    "['a'].exists(x, resource.name.endsWith(x))",
    "resource.name.lowerAscii() == 'x'",
    "",
])
def test_a_condition_that_is_not_valid_for_a_boundary_is_refused(gcp: GcpDouble, expression: str) -> None:
    response = exchange(gcp, str(impersonate_on(gcp).token),
                        boundary_options(raw_rule(bucket("reports"), [VIEWER], expression=expression)))

    assert _refusal(response)["error"] == "invalid_request"


def test_a_downscoped_token_cannot_be_downscoped_again(gcp: GcpDouble) -> None:
    narrowed = downscope_on(gcp, rule("reports", "objectViewer", "objectCreator"))

    with pytest.raises(OAuthError) as refused:
        downscope_on(gcp, rule("reports", "objectViewer"), source=narrowed)  # type: ignore[arg-type]

    assert _library_refusal(refused) == "invalid_grant"


def test_an_unknown_or_expired_subject_token_is_refused(frozen_gcp: FrozenDouble) -> None:
    double = frozen_gcp.double
    options = boundary_options(raw_rule(bucket("reports"), [VIEWER]))
    source = str(impersonate_on(double, lifetime=600).token)
    assert exchange(double, source, options).status_code == 200
    assert _refusal(exchange(double, "ya29.made-up", options))["error"] == "invalid_grant"

    frozen_gcp.clock.advance(timedelta(seconds=600))

    assert _refusal(exchange(double, source, options))["error"] == "invalid_grant"


@pytest.mark.parametrize(("override", "error"), [
    ({"grant_type": "client_credentials"}, "unsupported_grant_type"),
    ({"subject_token_type": "urn:ietf:params:oauth:token-type:id_token"}, "invalid_request"),
    ({"requested_token_type": "urn:ietf:params:oauth:token-type:jwt"}, "invalid_request"),
    ({"options": ""}, "invalid_request"),
    ({"options": "not%20json"}, "invalid_request"),
    ({"actor_token": "x", "actor_token_type": ACCESS_TOKEN}, "invalid_request"),
])
def test_a_request_that_is_not_a_downscoping_exchange_is_refused(gcp: GcpDouble, override: dict[str, str],
                                                                 error: str) -> None:
    options = boundary_options(raw_rule(bucket("reports"), [VIEWER]))

    assert _refusal(exchange(gcp, str(impersonate_on(gcp).token), options, **override))["error"] == error


@pytest.mark.parametrize("options", [
    {"accessBoundary": {"accessBoundaryRules": [raw_rule(bucket("reports"), [VIEWER])]}, "extra": 1},
    {"accessBoundary": {"accessBoundaryRules": [{**raw_rule(bucket("reports"), [VIEWER]), "availableRegion": "eu"}]}},
    {"accessBoundary": {"accessBoundaryRules": [raw_rule(bucket("reports"), [VIEWER]) | {
        "availabilityCondition": {"expression": PREFIX_CONDITION, "owner": "me"}}]}},
    {"accessBoundary": {"rules": []}},
])
def test_unknown_fields_in_the_boundary_are_refused(gcp: GcpDouble, options: dict[str, Any]) -> None:
    assert _refusal(exchange(gcp, str(impersonate_on(gcp).token), options))["error"] == "invalid_request"


def test_a_condition_may_carry_a_title_and_description(gcp: GcpDouble) -> None:
    condition = downscoped.AvailabilityCondition(PREFIX_CONDITION, title="today", description="today's report")
    boundary = downscoped.AccessBoundaryRule(bucket("reports"), [VIEWER], condition)

    narrowed = downscope_on(gcp, boundary)

    with gcp.http_session() as session:
        response = session.get(f"{GCS}/download/storage/v1/b/reports/o/today.csv?alt=media",
                               headers={"Authorization": f"Bearer {narrowed.token}"})
    assert response.status_code == 200
