"""Ending a GCP grant against the double: without the kill switch nothing changes in Google and the
provider says so; with it the ceiling's service account is disabled, every token minted as it
(other grants' too) is refused, later mints fail clearly, and no answer carries a token."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from google.auth.exceptions import RefreshError
from google.oauth2.credentials import Credentials

from cloud_broker.cli.gcs import attempt, storage_client
from cloud_broker.config import BrokerConfig, parse_config
from cloud_broker.domain.grants import Grant, GrantStatus
from cloud_broker.errors import NotFound, ProviderError
from cloud_broker.families.gcp import family
from cloud_broker.families.gcp.minting import GcpMintPlan
from cloud_broker.families.gcp.provider import GcpProvider
from cloud_broker.families.gcp.revoking import GcpRevokePlan
from cloud_broker.sandbox.gcp import GcpDouble, sandbox_auth_request, sandbox_authorized_session, start_gcp_double

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
REPORTS = "projects/_/buckets/reports"


@pytest.fixture
def gcp() -> Iterator[GcpDouble]:
    """A double of the test's own: the kill switch disables its agent account for good."""
    with start_gcp_double() as running:
        yield running


def provider(gcp: GcpDouble, token: str | None = None) -> GcpProvider:
    source = token or gcp.broker_source_token
    return GcpProvider(source=lambda: Credentials(token=source), request=lambda: sandbox_auth_request(gcp.base_url),
                       session=lambda credentials: sandbox_authorized_session(credentials, gcp.base_url),
                       clock=lambda: NOW)


def config(gcp: GcpDouble, *, also_on: str | None = None) -> BrokerConfig:
    ceiling = {"team": "t", "service_account": gcp.service_account, "max_ttl_seconds": 3600, "approvers": ["alice"],
               "allowed_permissions": ["storage.objects.*"], "resource_patterns": [f"{REPORTS}/objects/*"]}
    projects = [gcp.project_id, *([also_on] if also_on else [])]
    return parse_config({
        "approvers": [{"name": "alice"}], "teams": [{"name": "t"}],
        "gcp_projects": [{"project_id": p, "display_name": p} for p in projects],
        "gcp_ceilings": [{**ceiling, "project_id": p} for p in projects]})


def grant(gcp: GcpDouble, grant_id: str = "g-1") -> Grant:
    return Grant(grant_id=grant_id, family="gcp", team="t", host="h", agent_id="a", run_id="r", target=gcp.project_id,
                 scope={"permissions": ("storage.objects.get",), "resources": (f"{REPORTS}/objects/today.csv",)},
                 ttl=timedelta(minutes=15), status=GrantStatus.REVOKED, decision="auto_approve", created_at=NOW,
                 updated_at=NOW, expires_at=NOW + timedelta(minutes=15))


def plan(gcp: GcpDouble, *, kill_switch: bool, cfg: BrokerConfig | None = None) -> GcpRevokePlan:
    planned: GcpRevokePlan = family.plan_revoke(grant(gcp), cfg or config(gcp), NOW, kill_switch=kill_switch)
    return planned


def mint(gcp: GcpDouble, grant_id: str) -> str:
    return provider(gcp).mint(GcpMintPlan(grant_id, gcp.project_id, gcp.service_account, 900, None)).values["access_token"]


def reads(gcp: GcpDouble, token: str) -> bool:
    """Whether the token still reads today.csv through google-cloud-storage. A refused token
    surfaces as RefreshError: the client answers Google's 401 by refreshing a bare token."""
    try:
        result = attempt(lambda: storage_client(token, gcp.project_id, gcp.gcs_endpoint_url)
                         .bucket("reports").blob("today.csv").download_as_bytes())
    except RefreshError:
        return False
    return result.ok


def test_without_the_kill_switch_nothing_changes_in_google_and_the_answer_says_so(gcp: GcpDouble) -> None:
    token = mint(gcp, "g-1")

    result = provider(gcp).revoke(plan(gcp, kill_switch=False))

    assert result.revoked_in_cloud is False
    assert "Google cannot revoke a single access token" in result.detail
    assert "until it expires at 2030-01-01T12:15:00Z" in result.detail
    assert f"kill switch stops it now by disabling {gcp.service_account}" in result.detail
    assert reads(gcp, token)  # truthful: the token still works
    assert token not in result.detail


def test_the_kill_switch_disables_the_account_and_cuts_off_every_grant_of_the_ceiling(gcp: GcpDouble) -> None:
    this, other = mint(gcp, "g-1"), mint(gcp, "g-2")

    result = provider(gcp).revoke(plan(gcp, kill_switch=True))

    assert result.revoked_in_cloud is True
    for token in (this, other):  # truthful: Google (the double) refuses both now
        assert not reads(gcp, token)
        assert token not in result.detail
    assert f"Disabled service account {gcp.service_account}" in result.detail
    assert f"this grant's, and every other grant's of team t's ceiling on {gcp.project_id}." in result.detail
    assert f"gcloud iam service-accounts enable {gcp.service_account}" in result.detail
    assert "no sooner than 2030-01-01T13:00:00Z" in result.detail  # the clock at the disable, plus an hour


def test_the_kill_switch_is_idempotent(gcp: GcpDouble) -> None:
    first = provider(gcp).revoke(plan(gcp, kill_switch=True))
    again = provider(gcp).revoke(plan(gcp, kill_switch=True))

    assert first.revoked_in_cloud is again.revoked_in_cloud is True


def test_minting_for_a_disabled_ceiling_fails_with_a_clear_error(gcp: GcpDouble) -> None:
    provider(gcp).revoke(plan(gcp, kill_switch=True))

    with pytest.raises(ProviderError) as refused:
        mint(gcp, "g-3")

    assert refused.value.code == "GCP_SERVICE_ACCOUNT_DISABLED" and not refused.value.retryable
    assert "400 FAILED_PRECONDITION" in str(refused.value) and "disabled" in str(refused.value)
    assert f"gcloud iam service-accounts enable {gcp.service_account}" in str(refused.value)
    assert gcp.broker_source_token not in str(refused.value) and refused.value.__cause__ is None


def test_a_refused_disable_is_a_provider_error_with_googles_status_and_no_token(gcp: GcpDouble) -> None:
    agent_token = mint(gcp, "g-1")  # a valid token of an identity that may not disable the account

    with pytest.raises(ProviderError) as refused:
        provider(gcp, token=agent_token).revoke(plan(gcp, kill_switch=True))

    text = str(refused.value)
    assert refused.value.code == "GCP_REFUSED" and not refused.value.retryable
    assert "403 PERMISSION_DENIED Permission 'iam.serviceAccounts.disable' denied" in text
    assert agent_token not in text and refused.value.__cause__ is None
    assert reads(gcp, agent_token)  # nothing was disabled, and the error did not claim otherwise

    with pytest.raises(ProviderError) as unknown:
        provider(gcp, token="ya29.not-a-token").revoke(plan(gcp, kill_switch=True))
    assert "refused the broker's own credentials, so" in str(unknown.value)
    assert "ya29.not-a-token" not in str(unknown.value)


def test_an_unreachable_google_is_retryable(gcp: GcpDouble) -> None:
    base_url = gcp.base_url
    gcp.stop()
    unreachable = GcpProvider(source=lambda: Credentials(token="ya29.x"),
                              session=lambda credentials: sandbox_authorized_session(credentials, base_url))

    with pytest.raises(ProviderError) as failed:
        unreachable.revoke(plan(gcp, kill_switch=True))

    assert failed.value.code == "GCP_UNREACHABLE" and failed.value.retryable


def test_the_plan_names_the_ceilings_account_and_every_project_it_serves(gcp: GcpDouble) -> None:
    planned = plan(gcp, kill_switch=True, cfg=config(gcp, also_on="other-project-1"))

    assert planned == GcpRevokePlan("g-1", gcp.project_id, "t", gcp.service_account, NOW + timedelta(minutes=15),
                                    True, ("other-project-1",))
    detail = provider(gcp).revoke(planned).detail
    assert "and on other-project-1 (the same account). Minting for these ceilings fails" in detail


def test_a_kill_switch_needs_the_ceiling_to_know_which_account_to_disable(gcp: GcpDouble) -> None:
    gone = parse_config({"approvers": [{"name": "alice"}], "teams": [{"name": "t"}]})

    with pytest.raises(NotFound, match="which service account to disable"):
        family.plan_revoke(grant(gcp), gone, NOW, kill_switch=True)
    plain = family.plan_revoke(grant(gcp), gone, NOW, kill_switch=False)
    assert plain.service_account is None
    assert "disabling the ceiling's service account" in provider(gcp).revoke(plain).detail
