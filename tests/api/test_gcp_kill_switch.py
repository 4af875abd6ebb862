"""The cloud-revocation job carries the operator's kill switch to the GCP family: a job whose
payload asks for it disables the ceiling's service account, cutting off the grant's token and
every other grant's of the ceiling, and the broker's later mints for it fail clearly."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from google.auth.exceptions import RefreshError
from google.oauth2.credentials import Credentials

from cloud_broker.cli.gcs import attempt, storage_client
from cloud_broker.families.gcp.provider import GcpProvider
from cloud_broker.sandbox.gcp import GcpDouble, sandbox_auth_request, sandbox_authorized_session, start_gcp_double
from cloud_broker.service.jobs import new_job
from cloud_broker.service.revocation import CLOUD_REVOKE
from tests.api.conftest import BrokerUnderTest, broker_under_test

READ = {"permissions": ["storage.objects.get"], "resources": ["projects/_/buckets/reports/objects/today.csv"]}


@pytest.fixture
def gcp() -> Iterator[GcpDouble]:
    """The test's own double: its agent account ends up disabled."""
    with start_gcp_double() as running:
        yield running


@pytest.fixture
def kt(emulator: Any, tmp_path: Path, gcp: GcpDouble) -> Iterator[BrokerUnderTest]:
    def add_gcp(raw: dict[str, Any]) -> None:
        raw["gcp_projects"] = [{"project_id": gcp.project_id, "display_name": "Sandbox project"}]
        raw["gcp_ceilings"] = [{
            "team": "data", "project_id": gcp.project_id, "service_account": gcp.service_account,
            "max_ttl_seconds": 3600, "approvers": ["alice"], "allowed_permissions": ["storage.objects.*"],
            "resource_patterns": ["projects/_/buckets/reports/objects/*"],
            "auto_approve": [{"name": "read", **READ}]}]

    provider = GcpProvider(source=lambda: Credentials(token=gcp.broker_source_token),
                           request=lambda: sandbox_auth_request(gcp.base_url),
                           session=lambda credentials: sandbox_authorized_session(credentials, gcp.base_url))
    with broker_under_test(emulator, tmp_path, edit_config=add_gcp, other_providers={"gcp": provider}) as under_test:
        yield under_test


def _grant(kt: BrokerUnderTest, project_id: str) -> tuple[dict[str, Any], str]:
    body = {"project_id": project_id, **READ, "agent_id": kt.agent_id, "run_id": str(uuid.uuid4())}
    reply = kt.client.post("/gcp/grants", json=body, headers=kt.headers())
    assert reply.status_code == 200 and reply.json()["status"] == "active", reply.text
    grant = reply.json()
    creds = kt.client.post(f"/gcp/grants/{grant['grant_id']}/credentials", headers=kt.headers())
    return grant, creds.json()["credentials"]["access_token"]


def _reads(gcp: GcpDouble, token: str) -> bool:
    try:
        client = storage_client(token, gcp.project_id, gcp.gcs_endpoint_url)
        return attempt(lambda: client.bucket("reports").blob("today.csv").download_as_bytes()).ok
    except RefreshError:  # google-cloud-storage answers Google's 401 by refreshing the bare token
        return False


def test_a_kill_switch_job_disables_the_ceilings_account(kt: BrokerUnderTest, gcp: GcpDouble) -> None:
    grant, token = _grant(kt, gcp.project_id)
    _, other_token = _grant(kt, gcp.project_id)
    released = kt.client.post(f"/gcp/grants/{grant['grant_id']}/release", headers=kt.headers()).json()
    assert released["revoked_in_cloud"] is False and _reads(gcp, token)  # a release alone cannot stop it

    deps = kt.broker.deps
    job = new_job(CLOUD_REVOKE, f"{grant['grant_id']}:kill", grant_id=grant["grant_id"], event_seq=0,
                  payload={"actor": "operator:alice", "kill_switch": True}, now=deps.clock())
    with deps.store.unit_of_work() as uow:
        job = replace(job, id=uow.insert_delivery(job))
    outcome = kt.broker.revocations.run_now(job)

    assert outcome.revoked_in_cloud is True
    assert f"Disabled service account {gcp.service_account}" in outcome.detail
    assert not _reads(gcp, token) and not _reads(gcp, other_token)
    assert token not in outcome.detail and other_token not in outcome.detail
    later = kt.client.post("/gcp/grants", json={"project_id": gcp.project_id, **READ, "agent_id": kt.agent_id,
                                                "run_id": str(uuid.uuid4())}, headers=kt.headers())
    assert later.json()["status"] == "failed", later.text
    assert "GCP_SERVICE_ACCOUNT_DISABLED" in later.json()["denial_reason"]
    assert gcp.broker_source_token not in later.text


def test_the_operators_kill_switch_for_a_team_disables_the_account_and_says_so(
        kt: BrokerUnderTest, gcp: GcpDouble) -> None:
    from cloud_broker.service.kill_switch import Selection

    grant, token = _grant(kt, gcp.project_id)
    stopped = kt.broker.kill_switch.pull(Selection(team="data"), "operator:root", "incident 7")
    [item] = [s for s in stopped if s.grant.grant_id == grant["grant_id"]]
    assert item.grant.status.value == "revoked" and item.job is not None
    state = kt.broker.revocations.run_now(item.job)
    assert state.revoked_in_cloud is True and "refuses every" in state.detail  # other grants' tokens too
    assert not _reads(gcp, token)
    with kt.broker.deps.store.unit_of_work() as uow:
        trail = {e.event: e for e in uow.list_audit(grant_id=grant["grant_id"])}
    assert trail["grant.revoked"].detail == {"kill_switch": True}
    assert trail["grant.cloud_revocation"].detail["revoked_in_cloud"] is True
