"""Minting through google-auth against the GCP double: the boundary the engine plans is the one
Google (here, the double) enforces, and the provider's failures leak nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from google.oauth2.credentials import Credentials

from cloud_broker.cli.gcs import attempt, storage_client
from cloud_broker.domain.grants import Grant, GrantStatus
from cloud_broker.errors import ProviderError
from cloud_broker.families.gcp.boundary import plan_boundary
from cloud_broker.families.gcp.catalogue import GcpCatalogue
from cloud_broker.families.gcp.decide import enforcement
from cloud_broker.families.gcp.minting import GcpMintPlan
from cloud_broker.families.gcp.provider import GcpProvider
from cloud_broker.families.gcp.request import GcpAccessRequest
from cloud_broker.families.gcp.revoking import GcpRevokePlan
from cloud_broker.sandbox.gcp import GcpDouble, sandbox_auth_request, start_gcp_double

REPORTS = "projects/_/buckets/reports"


@pytest.fixture(scope="module")
def gcp() -> Iterator[GcpDouble]:
    with start_gcp_double() as running:
        yield running


def provider(gcp: GcpDouble, token: str | None = None) -> GcpProvider:
    source = token or gcp.broker_source_token
    return GcpProvider(source=lambda: Credentials(token=source), request=lambda: sandbox_auth_request(gcp.base_url))


def mint(gcp: GcpDouble, permissions: list[str], resources: list[str], catalogue: GcpCatalogue) -> str:
    enforced = enforcement(GcpAccessRequest(gcp.project_id, tuple(permissions), tuple(resources)), catalogue)
    plan = GcpMintPlan("g-1", gcp.project_id, gcp.service_account, 900, enforced.boundary)
    issued = provider(gcp).mint(plan)
    assert set(issued.values) == {"access_token"}
    assert datetime.now(UTC) + timedelta(minutes=14) < issued.cloud_expires_at <= datetime.now(UTC) + timedelta(minutes=16)
    return issued.values["access_token"]


def test_the_planned_conditions_admit_exactly_the_requested_resources() -> None:
    boundary = plan_boundary([f"{REPORTS}/objects/daily/*", f"{REPORTS}/objects/today.csv"],
                             ("roles/storage.objectViewer",), frozenset({"storage.objects.get", "storage.objects.list"}))
    (rule,) = boundary.rules
    assert rule.available_resource == "//storage.googleapis.com/projects/_/buckets/reports"
    assert rule.available_permissions == ["inRole:roles/storage.objectViewer"]
    assert rule.expression == (
        f"resource.name.startsWith('{REPORTS}/objects/daily/') || (resource.name == '{REPORTS}' && "
        "api.getAttribute('storage.googleapis.com/objectListPrefix', '').startsWith('daily/')) || "
        f"resource.name == '{REPORTS}/objects/today.csv'")
    assert boundary.widened == ()
    assert plan_boundary([f"{REPORTS}/objects/*"], ("r",), frozenset({"storage.objects.list"})).widened == (REPORTS,)


def test_an_exact_object_grant_reads_that_object_and_nothing_else(gcp: GcpDouble, catalogue: GcpCatalogue) -> None:
    token = mint(gcp, ["storage.objects.get"], [f"{REPORTS}/objects/today.csv"], catalogue)
    client = storage_client(token, gcp.project_id, gcp.gcs_endpoint_url)
    assert attempt(lambda: client.bucket("reports").blob("today.csv").download_as_bytes()).text.startswith("date,")
    assert attempt(lambda: list(client.list_blobs("reports"))).forbidden
    assert attempt(lambda: client.bucket("finance").blob("q3.csv").download_as_bytes()).forbidden
    assert attempt(lambda: client.bucket("reports").blob("y.csv").upload_from_string(b"y")).forbidden


def test_a_prefix_grant_writes_under_its_prefix_only(gcp: GcpDouble, catalogue: GcpCatalogue) -> None:
    token = mint(gcp, ["storage.objects.create"], [f"{REPORTS}/objects/uploads/*"], catalogue)
    client = storage_client(token, gcp.project_id, gcp.gcs_endpoint_url)
    assert attempt(lambda: client.bucket("reports").blob("uploads/minting-test.csv").upload_from_string(b"a")).ok
    assert attempt(lambda: client.bucket("reports").blob("elsewhere.csv").upload_from_string(b"a")).forbidden
    assert attempt(lambda: client.bucket("reports").blob("today.csv").download_as_bytes()).forbidden


def test_no_boundary_means_the_service_accounts_bindings(gcp: GcpDouble) -> None:
    """Without a boundary the token is the impersonated account's: it reads what the account may."""
    issued = provider(gcp).mint(GcpMintPlan("g-2", gcp.project_id, gcp.service_account, 600, None))
    client = storage_client(issued.values["access_token"], gcp.project_id, gcp.gcs_endpoint_url)
    assert attempt(lambda: client.bucket("finance").blob("q3.csv").download_as_bytes()).ok


def test_a_refusal_is_a_provider_error_that_leaks_no_token(gcp: GcpDouble) -> None:
    plan = GcpMintPlan("g-3", gcp.project_id, f"nobody@{gcp.project_id}.iam.gserviceaccount.com", 900, None)
    with pytest.raises(ProviderError) as refused:
        provider(gcp).mint(plan)
    assert refused.value.code == "GCP_REFUSED"
    assert gcp.broker_source_token not in str(refused.value) and refused.value.__cause__ is None
    with pytest.raises(ProviderError) as unknown:
        provider(gcp, token="ya29.not-a-token").mint(GcpMintPlan("g-4", gcp.project_id, gcp.service_account, 900, None))
    assert unknown.value.code == "GCP_REFUSED" and "ya29.not-a-token" not in str(unknown.value)


def test_release_is_truthful_google_tokens_cannot_be_revoked(gcp: GcpDouble) -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    grant = Grant(grant_id="g", family="gcp", team="t", host="h", agent_id="a", run_id="r", target=gcp.project_id,
                  scope={"permissions": ("storage.objects.get",), "resources": (REPORTS,)}, ttl=timedelta(minutes=15),
                  status=GrantStatus.REVOKED, decision="auto_approve", created_at=now, updated_at=now,
                  expires_at=now + timedelta(minutes=15))
    plan = GcpRevokePlan(grant.grant_id, grant.target, grant.team, gcp.service_account,
                         now + timedelta(minutes=15), kill_switch=False)
    result = provider(gcp).revoke(plan)
    assert result.revoked_in_cloud is False
    assert "cannot revoke a single access token" in result.detail and "2030-01-01T00:15:00Z" in result.detail
    assert f"kill switch stops it now by disabling {gcp.service_account}" in result.detail


def test_a_deferred_mint_gets_only_what_is_left_of_the_approved_window(gcp: GcpDouble) -> None:
    """A Google token cannot be cut off at expires_at, so its lifetime is counted from the mint."""
    from cloud_broker.config import parse_config
    from cloud_broker.errors import InvalidInput
    from cloud_broker.families.gcp.minting import plan_mint

    config = parse_config({
        "approvers": [{"name": "alice"}], "teams": [{"name": "t"}],
        "gcp_projects": [{"project_id": gcp.project_id, "display_name": "p"}],
        "gcp_ceilings": [{"team": "t", "project_id": gcp.project_id, "service_account": gcp.service_account,
                          "max_ttl_seconds": 3600, "approvers": ["alice"], "allowed_permissions": ["storage.objects.*"],
                          "resource_patterns": [f"{REPORTS}/objects/*"]}]})
    approved_at = datetime(2030, 1, 1, tzinfo=UTC)
    grant = Grant(grant_id="g", family="gcp", team="t", host="h", agent_id="a", run_id="r", target=gcp.project_id,
                  scope={"permissions": ("storage.objects.get",), "resources": (f"{REPORTS}/objects/*",)},
                  ttl=timedelta(minutes=15), status=GrantStatus.MINTING, decision="route_to_approver",
                  created_at=approved_at, updated_at=approved_at, expires_at=approved_at + timedelta(minutes=15))
    catalogue = GcpCatalogue.default()
    assert plan_mint(grant, config, catalogue, approved_at).lifetime_seconds == 900
    assert plan_mint(grant, config, catalogue, approved_at + timedelta(minutes=10)).lifetime_seconds == 300
    with pytest.raises(InvalidInput, match="window ended"):
        plan_mint(grant, config, catalogue, approved_at + timedelta(minutes=14, seconds=30))
