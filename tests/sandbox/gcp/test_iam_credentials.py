"""generateAccessToken: the broker may mint for the agent account, within Google's limits, and no one else may."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from google.auth import impersonated_credentials
from google.auth.exceptions import RefreshError
from google.oauth2.credentials import Credentials

from cloud_broker.sandbox.gcp import GcpDouble

from .conftest import broker_credentials, impersonate_on, storage_client
from .support import CLOUD_PLATFORM, READ_ONLY, FrozenDouble, generate, rule

START = datetime(2030, 1, 1)  # frozen_gcp's clock, naive as google-auth reports expiry
NOBODY = "nobody@cloud-broker-sandbox.iam.gserviceaccount.com"


def _error(response: Any) -> dict[str, Any]:
    body: dict[str, Any] = response.json()["error"]
    assert set(body) == {"code", "message", "status"} and body["code"] == response.status_code
    return body


def test_the_broker_mints_an_agent_token_that_expires_as_asked(frozen_gcp: FrozenDouble) -> None:
    agent = impersonate_on(frozen_gcp.double, lifetime=900)

    assert agent.expiry == START + timedelta(seconds=900)
    client = storage_client(frozen_gcp.double, agent.token)
    assert client.bucket("reports").blob("today.csv").download_as_bytes().startswith(b"date,region")


def test_a_caller_without_token_creator_on_the_account_is_refused(gcp: GcpDouble) -> None:
    agent_token = impersonate_on(gcp).token  # a valid token, but the agent may not mint for itself

    response = generate(gcp, agent_token, {"scope": [CLOUD_PLATFORM], "lifetime": "600s"})

    assert response.status_code == 403
    error = _error(response)
    assert error["status"] == "PERMISSION_DENIED"
    assert "iam.serviceAccounts.getAccessToken" in error["message"]
    with pytest.raises(RefreshError):
        impersonate_on(gcp, source=Credentials(token=agent_token))


def test_an_account_that_does_not_exist_is_refused_like_a_forbidden_one(gcp: GcpDouble) -> None:
    response = generate(gcp, gcp.broker_source_token, {"scope": [CLOUD_PLATFORM]}, target=NOBODY)

    assert response.status_code == 403
    assert _error(response)["status"] == "PERMISSION_DENIED"


def test_a_lifetime_over_one_hour_is_refused_without_the_extension(gcp: GcpDouble) -> None:
    with pytest.raises(RefreshError) as refused:
        impersonate_on(gcp, lifetime=3601)
    response = generate(gcp, gcp.broker_source_token, {"scope": [CLOUD_PLATFORM], "lifetime": "3601s"})

    assert response.status_code == 400 and _error(response)["status"] == "INVALID_ARGUMENT"
    assert json.loads(refused.value.args[1])["error"]["status"] == "INVALID_ARGUMENT"
    assert impersonate_on(gcp, lifetime=3600).valid


def test_the_lifetime_extension_allows_up_to_twelve_hours(extended_gcp: FrozenDouble) -> None:
    double = extended_gcp.double

    assert impersonate_on(double, lifetime=3601).expiry == START + timedelta(seconds=3601)
    assert impersonate_on(double, lifetime=43200).expiry == START + timedelta(hours=12)
    response = generate(double, double.broker_source_token, {"scope": [CLOUD_PLATFORM], "lifetime": "43201s"})
    assert response.status_code == 400 and _error(response)["status"] == "INVALID_ARGUMENT"


@pytest.mark.parametrize("body", [
    {"scope": [CLOUD_PLATFORM], "lifetime": "an hour"},
    {"scope": [CLOUD_PLATFORM], "lifetime": "3600"},
    {"scope": [CLOUD_PLATFORM], "lifetime": "-5s"},
    {"scope": [CLOUD_PLATFORM], "lifetime": "0s"},
    {"scope": [CLOUD_PLATFORM], "lifetime": 3600},
    {"lifetime": "600s"},
    {"scope": [], "lifetime": "600s"},
    {"scope": CLOUD_PLATFORM, "lifetime": "600s"},
    {"scope": [CLOUD_PLATFORM], "lifetime": "600s", "audience": "x"},
    {"scope": [CLOUD_PLATFORM], "delegates": ["agent@cloud-broker-sandbox.iam.gserviceaccount.com"]},
])
def test_a_malformed_request_is_refused_with_400(gcp: GcpDouble, body: dict[str, Any]) -> None:
    response = generate(gcp, gcp.broker_source_token, body)

    assert response.status_code == 400
    assert _error(response)["status"] == "INVALID_ARGUMENT"


@pytest.mark.parametrize("authorization", [None, "Bearer ya29.made-up", "Basic YWdlbnQ6cHc="])
def test_an_unknown_caller_is_refused_with_401(gcp: GcpDouble, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    with gcp.http_session() as session:
        response = session.post(gcp.generate_access_token_url(), json={"scope": [CLOUD_PLATFORM]}, headers=headers)

    assert response.status_code == 401
    assert _error(response)["status"] == "UNAUTHENTICATED"


def test_an_expired_caller_token_is_refused_with_401(frozen_gcp: FrozenDouble) -> None:
    double = frozen_gcp.double
    agent_token = impersonate_on(double, lifetime=600).token
    body = {"scope": [CLOUD_PLATFORM]}
    assert generate(double, agent_token, body).status_code == 403  # known, merely not allowed

    frozen_gcp.clock.advance(timedelta(seconds=600))

    response = generate(double, agent_token, body)
    assert response.status_code == 401 and _error(response)["status"] == "UNAUTHENTICATED"


def test_a_downscoped_token_is_not_accepted_by_iam_credentials(gcp: GcpDouble) -> None:
    from .conftest import downscope_on

    narrowed = downscope_on(gcp, rule("reports", "objectViewer"))

    assert generate(gcp, str(narrowed.token), {"scope": [CLOUD_PLATFORM]}).status_code == 401


def test_a_caller_token_without_an_iam_scope_is_refused(gcp: GcpDouble) -> None:
    read_only = impersonate_on(gcp, scopes=[READ_ONLY]).token

    response = generate(gcp, read_only, {"scope": [CLOUD_PLATFORM]})

    assert response.status_code == 403 and "scopes" in _error(response)["message"]


@pytest.mark.parametrize(("delegate", "missing"), [
    ("agent@cloud-broker-sandbox.iam.gserviceaccount.com", "iam.serviceAccounts.getAccessToken"),
    (NOBODY, "iam.serviceAccounts.implicitDelegation"),
])
def test_each_hop_of_a_delegation_chain_needs_its_permission(gcp: GcpDouble, delegate: str, missing: str) -> None:
    # broker -> delegate -> agent: the broker may delegate through the agent account, but the
    # agent account holds no Token Creator on itself, and nobody@ grants the broker nothing.
    body = {"scope": [CLOUD_PLATFORM], "delegates": [f"projects/-/serviceAccounts/{delegate}"]}

    response = generate(gcp, gcp.broker_source_token, body)

    assert response.status_code == 403
    assert f"'{missing}'" in _error(response)["message"]


def test_impersonation_through_the_routed_public_endpoint_needs_no_override(gcp: GcpDouble) -> None:
    credentials = impersonated_credentials.Credentials(
        source_credentials=broker_credentials(gcp), target_principal=gcp.service_account,
        target_scopes=[CLOUD_PLATFORM], lifetime=300)

    credentials.refresh(gcp.auth_request())

    assert credentials.valid and credentials.token
