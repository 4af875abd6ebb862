"""Disabling a service account, Google's only kill switch: every token issued as it is refused at
once, impersonated and downscoped alike, no new one can be minted, and enabling it brings back
the tokens that have not expired (as Google documents). Each test disables on a double of its own."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import requests
from google.auth.exceptions import RefreshError
from google.auth.transport.requests import AuthorizedSession

from cloud_broker.sandbox.gcp import GcpDouble

from .conftest import broker_credentials, downscope_on, impersonate_on, storage_client
from .support import READ_ONLY, FrozenDouble, boundary_options, exchange, generate, rule, storage_get

IAM = "https://iam.googleapis.com/v1/projects/-/serviceAccounts"
NOBODY = "nobody@cloud-broker-sandbox.iam.gserviceaccount.com"
TODAY = "/storage/v1/b/reports/o/today.csv?alt=media"


def switch(double: GcpDouble, method: str, *, token: str | None = None, account: str | None = None,
           body: Any = None) -> requests.Response:
    """``:disable``/``:enable`` through the routed iam.googleapis.com origin, as a raw REST call."""
    url = f"{IAM}/{account or double.service_account}:{method}"
    with double.http_session() as session:
        return session.post(url, json=body, headers={"Authorization": f"Bearer {token or double.broker_source_token}"},
                            timeout=10)


def _error(response: requests.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()["error"]
    assert body["code"] == response.status_code
    return body


def test_the_broker_disables_the_agent_account_through_an_authorized_session(frozen_gcp: FrozenDouble) -> None:
    double = frozen_gcp.double
    with AuthorizedSession(broker_credentials(double)) as session:  # type: ignore[no-untyped-call]
        for _ in range(2):  # disabling a disabled account changes nothing and succeeds
            reply = session.post(double.service_account_method_url("disable"), timeout=10)
            assert (reply.status_code, reply.json()) == (200, {})

    with pytest.raises(RefreshError) as refused:
        impersonate_on(double)
    assert "FAILED_PRECONDITION" in str(refused.value)


def test_every_token_of_a_disabled_account_is_refused_impersonated_and_downscoped(frozen_gcp: FrozenDouble) -> None:
    double = frozen_gcp.double
    agent = impersonate_on(double).token
    narrowed = downscope_on(double, rule("reports", "objectViewer")).token
    assert storage_get(double, agent, TODAY).status_code == 200
    assert storage_get(double, narrowed, TODAY).status_code == 200

    assert switch(double, "disable").status_code == 200

    for token in (agent, narrowed):
        response = storage_get(double, token, TODAY)
        assert response.status_code == 401 and _error(response)["message"] == "Invalid Credentials"
        # google-cloud-storage answers a 401 by refreshing its credentials, which a bare token cannot.
        with pytest.raises(RefreshError):
            storage_client(double, token).bucket("reports").blob("today.csv").download_as_bytes()
    downscoping = exchange(double, agent, boundary_options({
        "availableResource": "//storage.googleapis.com/projects/_/buckets/reports",
        "availablePermissions": ["inRole:roles/storage.objectViewer"]}))
    assert (downscoping.status_code, downscoping.json()["error"]) == (400, "invalid_grant")


def test_no_token_can_be_minted_for_a_disabled_account(frozen_gcp: FrozenDouble) -> None:
    double = frozen_gcp.double
    switch(double, "disable")

    response = generate(double, double.broker_source_token, {"scope": ["https://www.googleapis.com/auth/cloud-platform"]})

    assert response.status_code == 400
    assert _error(response) == {"code": 400, "message": "Precondition check failed.",
                                "status": "FAILED_PRECONDITION"}
    with pytest.raises(RefreshError):
        downscope_on(double, rule("reports", "objectViewer"))


def test_enabling_mints_again_and_brings_back_tokens_that_have_not_expired(frozen_gcp: FrozenDouble) -> None:
    """Google: "After you re-enable the service account, its existing access tokens will be accepted"."""
    double = frozen_gcp.double
    short = impersonate_on(double, lifetime=600).token
    long = downscope_on(double, rule("reports", "objectViewer"), lifetime=3600).token
    switch(double, "disable")
    frozen_gcp.clock.advance(timedelta(minutes=20))  # the short token expires while the account is off

    assert switch(double, "enable").status_code == 200
    assert switch(double, "enable").status_code == 200  # already enabled: no effect

    assert storage_get(double, long, TODAY).status_code == 200
    assert storage_get(double, short, TODAY).status_code == 401
    fresh = impersonate_on(double).token
    assert storage_client(double, fresh).bucket("reports").blob("today.csv").download_as_bytes().startswith(b"date,")


def test_only_a_holder_of_the_permission_on_that_account_may_switch_it(frozen_gcp: FrozenDouble) -> None:
    double = frozen_gcp.double
    agent = impersonate_on(double).token  # the agent holds no serviceAccountAdmin on itself

    for method in ("disable", "enable"):
        refused = switch(double, method, token=agent)
        assert refused.status_code == 403
        assert _error(refused)["message"].startswith(f"Permission 'iam.serviceAccounts.{method}' denied")
    unknown = switch(double, "disable", account=NOBODY)  # with the - wildcard, 403 rather than 404
    assert (unknown.status_code, _error(unknown)["status"]) == (403, "PERMISSION_DENIED")
    assert storage_get(double, agent, TODAY).status_code == 200  # nothing was disabled


def test_malformed_or_unauthenticated_calls_are_refused_as_google_does(frozen_gcp: FrozenDouble) -> None:
    double = frozen_gcp.double
    narrowed = downscope_on(double, rule("reports", "objectViewer")).token
    read_only = impersonate_on(double, scopes=[READ_ONLY]).token

    assert switch(double, "disable", token="ya29.not-a-token").status_code == 401
    assert switch(double, "disable", token=narrowed).status_code == 401
    scoped = switch(double, "disable", token=read_only)
    assert (scoped.status_code, _error(scoped)["message"]) == (403, "Request had insufficient authentication scopes.")
    with_body = switch(double, "disable", body={"reason": "incident"})
    assert (with_body.status_code, _error(with_body)["status"]) == (400, "INVALID_ARGUMENT")
    assert switch(double, "disable", body={}).status_code == 200


def test_disabling_one_account_leaves_the_others_working(frozen_gcp: FrozenDouble) -> None:
    double = frozen_gcp.double
    switch(double, "disable")
    # The broker's own identity is another account: it still authenticates, and can switch back.
    assert switch(double, "enable").status_code == 200
