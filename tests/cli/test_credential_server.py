"""The local credentials endpoint's refusals, on the app itself (the e2e tests drive it through SDKs)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from starlette.testclient import TestClient

from cloud_broker.cli.credential_server import AWS_PATH, build_app
from cloud_broker.client.errors import BrokerCallError
from cloud_broker.client.resolve import ResolvedGrant

CAPABILITY = "per-run-capability-0123456789"
EXPIRES = datetime.now(UTC) + timedelta(minutes=15)
AWS = ResolvedGrant("g", "aws", "123456789012", EXPIRES,
                    {"access_key_id": "ASIA1", "secret_access_key": "s", "session_token": "t"})
GCP = ResolvedGrant("g", "gcp", "my-project", EXPIRES, {"access_token": "ya29.x"},
                    service_account="sa@my-project.iam.gserviceaccount.com")


def _client(family: str, grant: ResolvedGrant | None, peer: str = "127.0.0.1") -> TestClient:
    async def resolve() -> ResolvedGrant:
        if grant is None:
            raise BrokerCallError("GRANT_RELEASED: grant g was released; request a new grant", status=409)
        return grant

    return TestClient(build_app(family, CAPABILITY, resolve), client=(peer, 50000))


def test_aws_answers_the_container_provider_shape_to_the_token_only() -> None:
    client = _client("aws", AWS)
    assert client.get(AWS_PATH).status_code == 403
    assert client.get(AWS_PATH, headers={"Authorization": CAPABILITY + "x"}).status_code == 403
    body = client.get(AWS_PATH, headers={"Authorization": CAPABILITY}).json()
    assert body == {"AccessKeyId": "ASIA1", "SecretAccessKey": "s", "Token": "t", "AccountId": "123456789012",
                    "Expiration": EXPIRES.strftime("%Y-%m-%dT%H:%M:%SZ")}


def test_a_peer_that_is_not_loopback_is_refused_even_with_the_token() -> None:
    assert _client("aws", AWS, peer="192.0.2.7").get(AWS_PATH, headers={"Authorization": CAPABILITY}).status_code == 403
    refused = _client("gcp", GCP, peer="192.0.2.7").get(f"/{CAPABILITY}", headers={"Metadata-Flavor": "Google"})
    assert refused.status_code == 403


def test_a_refused_grant_is_the_brokers_status_without_values() -> None:
    reply = _client("aws", None).get(AWS_PATH, headers={"Authorization": CAPABILITY})
    assert reply.status_code == 409 and "GRANT_RELEASED" in reply.text


def test_gcp_wants_the_capability_and_the_metadata_flavor_header() -> None:
    client = _client("gcp", GCP)
    flavor = {"Metadata-Flavor": "Google"}
    token_path = f"/{CAPABILITY}/computeMetadata/v1/instance/service-accounts/default/token"
    assert client.get(token_path).status_code == 403
    assert client.get(token_path.replace(CAPABILITY, "guess"), headers=flavor).status_code == 404
    assert client.get(token_path, headers={**flavor, "X-Forwarded-For": "1.2.3.4"}).status_code == 403
    ping = client.get(f"/{CAPABILITY}", headers=flavor)
    assert ping.status_code == 200 and ping.headers["metadata-flavor"] == "Google"
    token = client.get(token_path, headers=flavor).json()
    left = (EXPIRES - datetime.now(UTC)).total_seconds()
    assert token["access_token"] == "ya29.x" and left - 5 < token["expires_in"] <= left
    info = client.get(f"/{CAPABILITY}/computeMetadata/v1/instance/service-accounts/default/",
                      params={"recursive": "true"}, headers=flavor).json()
    assert info["email"] == GCP.service_account
    assert client.get(f"/{CAPABILITY}/computeMetadata/v1/project/project-id", headers=flavor).text == "my-project"
    assert client.get(f"/{CAPABILITY}/computeMetadata/v1/instance/attributes/x", headers=flavor).status_code == 404


def test_a_grant_without_the_expected_values_is_a_refusal_not_a_crash() -> None:
    broken = ResolvedGrant("g", "aws", "123456789012", EXPIRES, {"access_key_id": "ASIA1"})
    reply = _client("aws", broken).get(AWS_PATH, headers={"Authorization": CAPABILITY})
    assert reply.status_code == 502 and "secret_access_key" in reply.text
