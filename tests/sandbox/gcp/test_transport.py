"""The sandbox session sends Google's three origins to the double and refuses everything else."""

from __future__ import annotations

import pytest
from google.auth import downscoped
from google.cloud import storage  # type: ignore[import-untyped]

from cloud_broker.sandbox.gcp import GcpDouble, UnroutedRequest, sandbox_session

from .conftest import Impersonate
from .support import rule


@pytest.mark.parametrize("url", [
    "https://oauth2.googleapis.com/token",
    "https://www.googleapis.com/storage/v1/b/reports",
    "https://storage.googleapis.com.example.net/storage/v1/b/reports",
    "https://storage.mtls.googleapis.com/storage/v1/b/reports",
    "http://storage.googleapis.com/storage/v1/b/reports",
    "http://169.254.169.254/computeMetadata/v1/",
    "http://127.0.0.1:9/",
])
def test_anything_not_routed_is_refused_before_it_is_sent(gcp: GcpDouble, url: str) -> None:
    with gcp.http_session() as session, pytest.raises(UnroutedRequest):
        session.get(url, timeout=5)


def test_routed_origins_reach_the_double_even_with_a_proxy_in_the_environment(gcp: GcpDouble,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # a proxy that would refuse the connection
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")

    with sandbox_session(gcp.base_url) as session:
        response = session.get("https://storage.googleapis.com/storage/v1/b/reports",
                               headers={"Authorization": "Bearer ya29.made-up"}, timeout=5)

    assert response.status_code == 401  # the double's answer, not a proxy error


def test_a_storage_client_on_its_default_endpoint_works_through_the_authorized_session(
        gcp: GcpDouble, impersonate: Impersonate) -> None:
    agent = impersonate()
    client = storage.Client(project=gcp.project_id, credentials=agent, _http=gcp.authorized_session(agent))

    blob = client.bucket("reports").get_blob("today.csv")  # its mediaLink names the double; the session allows it

    assert blob is not None and blob.download_as_bytes().startswith(b"date,region")


def test_downscoped_credentials_refresh_inside_the_storage_client(gcp: GcpDouble, impersonate: Impersonate) -> None:
    narrowed = downscoped.Credentials(
        source_credentials=impersonate(),
        credential_access_boundary=downscoped.CredentialAccessBoundary(rules=[rule("reports", "objectViewer")]))
    client = storage.Client(project=gcp.project_id, credentials=narrowed, _http=gcp.authorized_session(narrowed),
                            client_options={"api_endpoint": gcp.gcs_endpoint_url})

    assert not narrowed.valid
    assert [b.name for b in client.list_blobs("reports", prefix="today")] == ["today.csv"]
    assert narrowed.valid

