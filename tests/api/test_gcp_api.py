"""The ``/gcp`` routes against the GCP double, as the published client calls them (contract §3.2):
poll, release and credentials carry no ``agent_id``, so the host's token is the authority."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.oauth2.credentials import Credentials

from cloud_broker.cli.gcs import attempt, storage_client
from cloud_broker.families.gcp.provider import GcpProvider
from cloud_broker.sandbox.gcp import GcpDouble, sandbox_auth_request, start_gcp_double
from tests.api.conftest import BrokerUnderTest, broker_under_test

READ = {"permissions": ["storage.objects.get", "storage.objects.list"],
        "resources": ["projects/_/buckets/reports", "projects/_/buckets/reports/objects/*"]}
VIEWER = ["storage.objects.get", "storage.objects.list", "storage.folders.get", "storage.folders.list",
          "storage.managedFolders.get", "storage.managedFolders.list"]


@pytest.fixture(scope="module")
def gcp() -> Iterator[GcpDouble]:
    with start_gcp_double() as running:
        yield running


@pytest.fixture
def gt(emulator: Any, tmp_path: Path, gcp: GcpDouble) -> Iterator[BrokerUnderTest]:
    def add_gcp(raw: dict[str, Any]) -> None:
        raw["gcp_projects"] = [{"project_id": gcp.project_id, "display_name": "Sandbox project"}]
        raw["gcp_ceilings"] = [{
            "team": "data", "project_id": gcp.project_id, "service_account": gcp.service_account,
            "max_ttl_seconds": 3600, "approvers": ["alice"],
            "allowed_permissions": ["storage.objects.*", "storage.folders.*", "storage.managedFolders.*",
                                    "storage.multipartUploads.*"],
            "resource_patterns": ["projects/_/buckets/reports", "projects/_/buckets/reports/objects/*"],
            "permission_denylist": ["storage.objects.setIamPolicy"],
            "auto_approve": [{"name": "read-reports", "permissions": VIEWER, "resources": READ["resources"]}],
        }]

    provider = GcpProvider(source=lambda: Credentials(token=gcp.broker_source_token),
                           request=lambda: sandbox_auth_request(gcp.base_url))
    with broker_under_test(emulator, tmp_path, edit_config=add_gcp, other_providers={"gcp": provider}) as under_test:
        under_test.raw_config["gcp"] = gcp  # type: ignore[assignment]
        yield under_test


def _request(gt: BrokerUnderTest, **overrides: Any) -> dict[str, Any]:
    gcp = gt.raw_config["gcp"]
    body = {"project_id": gcp.project_id, **READ, "agent_id": gt.agent_id, "run_id": str(uuid.uuid4()), **overrides}
    reply = gt.client.post("/gcp/grants", json=body, headers=gt.headers())
    assert reply.status_code == 200, reply.text
    return reply.json()


def test_an_auto_approved_read_is_usable_and_says_what_bounds_it(gt: BrokerUnderTest) -> None:
    gcp = gt.raw_config["gcp"]
    grant = _request(gt)
    assert grant["status"] == "active" and grant["secret_ref"].startswith("secret_ref://gcp/runs/")
    assert grant["enforced_by"] == "access_boundary" and grant["roles"] == ["roles/storage.objectViewer"]
    assert "credentials" not in grant and grant["project_id"] == gcp.project_id
    creds = gt.client.post(f"/gcp/grants/{grant['grant_id']}/credentials", headers=gt.headers())
    assert creds.status_code == 200 and set(creds.json()) >= {"grant_id", "expires_at", "credentials"}
    token = creds.json()["credentials"]["access_token"]
    client = storage_client(token, gcp.project_id, gcp.gcs_endpoint_url)
    assert attempt(lambda: client.bucket("reports").blob("today.csv").download_as_bytes()).text.startswith("date,")
    assert attempt(lambda: client.bucket("finance").blob("q3.csv").download_as_bytes()).forbidden
    polled = gt.client.get(f"/gcp/grants/{grant['grant_id']}", headers=gt.headers()).json()
    assert polled["status"] == "active" and polled["enforced_by"] == "access_boundary"
    released = gt.client.post(f"/gcp/grants/{grant['grant_id']}/release", headers=gt.headers()).json()
    assert released["status"] == "revoked" and released["revoked_in_cloud"] is False
    assert "Google cannot revoke a single access token" in released["cloud_revocation"]
    after = gt.client.post(f"/gcp/grants/{grant['grant_id']}/credentials", headers=gt.headers())
    assert after.status_code == 409 and after.json()["error_code"] == "GRANT_RELEASED"
    assert gt.counts()[1] == 0, "the ciphertext went with the release"
    with gt.broker.deps.store.unit_of_work() as uow:
        trail = {row.event: row.actor for row in uow.list_audit(grant_id=grant["grant_id"])}
    assert trail["credentials.read"] == trail["grant.released"] == "host:host-a (no agent named)"


def test_grant_routes_without_an_agent_are_the_hosts_and_only_its_own_familys(gt: BrokerUnderTest) -> None:
    grant_id = _request(gt)["grant_id"]
    for path in (f"/gcp/grants/{grant_id}", f"/gcp/grants/{grant_id}/credentials"):
        method = gt.client.get if path.count("/") == 3 else gt.client.post
        other_host = method(path, headers=gt.headers("host-b"))
        assert other_host.status_code == 404 and other_host.json()["error_code"] == "GRANT_NOT_FOUND"
        as_aws = method(path.replace("/gcp/", "/aws/"), params={"agent_id": gt.agent_id}, headers=gt.headers())
        assert as_aws.status_code == 404, "a GCP grant is not an AWS one"
    foreign = gt.client.get(f"/gcp/grants/{grant_id}", params={"agent_id": gt.foreign_agent_id}, headers=gt.headers())
    assert foreign.status_code == 403
    aws = gt.client.post("/aws/grants", json=gt.grant_body(), headers=gt.headers()).json()
    assert gt.client.get(f"/gcp/grants/{aws['grant_id']}", headers=gt.headers()).status_code == 404


def test_inventory_scope_and_preview_speak_gcp(gt: BrokerUnderTest) -> None:
    gcp = gt.raw_config["gcp"]
    inventory = gt.client.get("/gcp/inventory", params={"agent_id": gt.agent_id}, headers=gt.headers()).json()
    assert inventory == {"projects": [{"project_id": gcp.project_id, "display_name": "Sandbox project",
                                       "service_account_email": gcp.service_account}]}
    foreign = gt.client.get("/gcp/inventory", params={"agent_id": gt.foreign_agent_id}, headers=gt.headers("host-b"))
    assert foreign.json() == {"projects": []}
    scope = gt.client.get("/gcp/scope", params={"agent_id": gt.agent_id, "project_id": gcp.project_id},
                          headers=gt.headers()).json()
    assert scope["service_account_email"] == gcp.service_account and scope["permission_denylist"]
    missing = gt.client.get("/gcp/scope", params={"agent_id": gt.agent_id, "project_id": "unknown-project"},
                            headers=gt.headers())
    assert missing.status_code == 404 and "gcp_list_accounts" in missing.json()["error"]
    before = gt.counts()
    preview = gt.client.post("/gcp/scope/preview", json={"project_id": gcp.project_id, "agent_id": gt.agent_id,
                                                          "permissions": ["storage.objects.create"],
                                                          "resources": ["projects/_/buckets/reports/objects/up/*"]},
                             headers=gt.headers()).json()
    assert preview["would"] == "route_to_approver" and preview["enforced_by"] == "access_boundary"
    assert "storage.folders.create" in preview["reason"], "the widening is spelt out"
    assert gt.counts() == before


@pytest.mark.parametrize(("field", "value"), [
    ("project_id", "Not_A_Project"), ("permissions", ["storage objects get"]), ("permissions", []),
    ("resources", ["projects/_/buckets/a b"]), ("turn_initiator", {"channel": 1}), ("ttl_seconds", "900"),
])
def test_bad_gcp_input_is_refused_and_writes_nothing(gt: BrokerUnderTest, field: str, value: Any) -> None:
    before = gt.counts()
    reply = gt.client.post("/gcp/grants", json={"project_id": gt.raw_config["gcp"].project_id, **READ,
                                                "agent_id": gt.agent_id, "run_id": str(uuid.uuid4()), field: value},
                           headers=gt.headers())
    assert reply.status_code == 400 and reply.json()["error_code"] == "INVALID_INPUT"
    assert gt.counts() == before


def test_a_routed_gcp_write_is_approved_narrowed_and_minted_under_its_prefix(gt: BrokerUnderTest) -> None:
    gcp = gt.raw_config["gcp"]
    from cloud_broker.service.approvals import Narrowing

    asked = ["storage.objects.get", "storage.objects.list", "storage.objects.create"]
    pending = _request(gt, permissions=asked, resources=["projects/_/buckets/reports/objects/uploads/*"])
    assert pending["status"] == "pending"
    approved = gt.broker.approvals.approve(pending["grant_id"], "alice", Narrowing(permissions=["storage.objects.create"]))
    assert approved.status.value == "active" and approved.scope["permissions"] == ("storage.objects.create",)
    token = gt.client.post(f"/gcp/grants/{pending['grant_id']}/credentials",
                           headers=gt.headers()).json()["credentials"]["access_token"]
    client = storage_client(token, gcp.project_id, gcp.gcs_endpoint_url)
    blob = client.bucket("reports").blob(f"uploads/{uuid.uuid4().hex}.csv")
    assert attempt(lambda: blob.upload_from_string(b"week,total\n")).ok
    assert attempt(lambda: blob.download_as_bytes()).forbidden, "reading was narrowed away"
    with pytest.raises(Exception, match="cannot be narrowed"):
        gt.broker.approvals.approve(_request(gt, permissions=["storage.objects.create"],
                                             resources=["projects/_/buckets/reports/objects/uploads/*"])["grant_id"],
                                    "alice", Narrowing(actions=["storage.objects.create"]))


def test_feed_cards_and_console_speak_the_grants_family(gt: BrokerUnderTest) -> None:
    """The shared surfaces name GCP things in GCP words: the pushed message and the approval card
    (the console page is driven in Chromium by tests/e2e/test_gcp_flow.py)."""
    from cloud_broker.notify.cards import card_for
    from cloud_broker.notify.slack_blocks import request_blocks
    from cloud_broker.service.feed import GrantFeed

    gcp = gt.raw_config["gcp"]
    active = _request(gt)
    pending = _request(gt, permissions=["storage.objects.create"],
                       resources=["projects/_/buckets/reports/objects/uploads/*"])
    events, _ = GrantFeed(gt.broker.deps).after(0, agent_id=gt.agent_id)
    minted = next(e for e in events if e.grant.grant_id == active["grant_id"] and e.event == "grant.minted")
    body = minted.to_json()
    assert "call gcp_get_credentials" in body["message"] and body["project_id"] == gcp.project_id
    assert body["family"] == "gcp" and body["permissions"] == READ["permissions"] and "account_id" not in body
    with gt.broker.deps.store.unit_of_work() as uow:
        grant = uow.get_grant(pending["grant_id"])
    card = card_for(gt.broker.deps, grant)
    webhook = card.to_json()
    assert (webhook["family"], webhook["project_id"], webhook["project_name"]) == ("gcp", gcp.project_id,
                                                                                   "Sandbox project")
    assert webhook["permissions"] == ["storage.objects.create"] and webhook["risk"]["highest_access_level"] == "write"
    assert any("Credential Access Boundary" in note for note in webhook["risk"]["notes"])
    text = str(request_blocks(card))
    assert "*Project*" in text and "*Permissions* (1)" in text and "Resources (1)" in text and "Regions" not in text


def test_a_narrowing_that_reopens_what_the_approver_removed_is_refused_and_changes_nothing(gt: BrokerUnderTest) -> None:
    from cloud_broker.errors import InvalidInput
    from cloud_broker.service.approvals import Narrowing

    pending = _request(gt, permissions=["storage.objects.get", "storage.objects.list", "storage.objects.create"])
    assert pending["status"] == "pending"
    before = gt.counts()
    with pytest.raises(InvalidInput, match="still opens projects/_/buckets/reports"):
        gt.broker.approvals.approve(pending["grant_id"], "alice",
                                    Narrowing(resources=["projects/_/buckets/reports/objects/*"]))
    assert gt.counts() == before
    polled = gt.client.get(f"/gcp/grants/{pending['grant_id']}", headers=gt.headers()).json()
    assert polled["status"] == "pending" and "requested" not in polled
