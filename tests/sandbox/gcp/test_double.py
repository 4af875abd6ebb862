"""Starting, sharing and stopping doubles: no process-wide state, no secrets in repr."""

from __future__ import annotations

import pytest
import requests

from cloud_broker.sandbox.gcp import GcpDouble, UnroutedRequest, start_gcp_double

from .support import storage_get


def test_the_broker_token_is_kept_out_of_repr(gcp: GcpDouble) -> None:
    assert gcp.broker_source_token not in repr(gcp)
    assert gcp.base_url in repr(gcp) and gcp.service_account in repr(gcp)


def test_two_doubles_share_nothing(gcp: GcpDouble) -> None:
    with start_gcp_double() as other:
        assert other.base_url != gcp.base_url
        assert other.broker_source_token != gcp.broker_source_token
        assert storage_get(other, gcp.broker_source_token, "/storage/v1/b/reports/o").status_code == 401
        assert storage_get(other, other.broker_source_token, "/storage/v1/b/reports/o").status_code == 403


def test_a_stopped_double_no_longer_answers() -> None:
    double = start_gcp_double()
    url = f"{double.base_url}/storage/v1/b/reports"
    with double.http_session() as session:
        assert session.get(url, timeout=5).status_code == 401

        double.stop()

        with pytest.raises(requests.ConnectionError) as refused:
            session.get(url, timeout=5)
    assert not isinstance(refused.value, UnroutedRequest)  # the port is closed; the session did try


def test_endpoints_are_those_the_clients_take(gcp: GcpDouble) -> None:
    assert gcp.sts_url == f"{gcp.base_url}/v1/token"
    assert gcp.gcs_endpoint_url == gcp.iam_credentials_url == gcp.base_url
    assert gcp.generate_access_token_url().endswith(f"/serviceAccounts/{gcp.service_account}:generateAccessToken")
    assert gcp.base_url.startswith("http://127.0.0.1:")
