"""Bad input is refused with a specific error and changes nothing (no grant, no secret, no audit row)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest

from tests.api.conftest import BrokerUnderTest

GRANT_BAD_BODIES: list[tuple[str, dict[str, Any], str]] = [
    ("short account id", {"account_id": "12345"}, "account_id"),
    ("letters in account id", {"account_id": "abcdefghijkl"}, "account_id"),
    ("numeric account id", {"account_id": 123456789012}, "account_id"),
    ("not an ARN", {"resources": ["reports/today.csv"]}, "resources"),
    ("truncated ARN", {"resources": ["arn:aws:s3"]}, "resources"),
    ("action without service", {"actions": ["GetObject"]}, "actions"),
    ("action with space", {"actions": ["s3:Get Object"]}, "actions"),
    ("empty action list", {"actions": []}, "actions"),
    ("upper-case region", {"regions": ["US-EAST-1"]}, "regions"),
    ("made-up region", {"regions": ["mars"]}, "regions"),
    ("malformed agent id", {"agent_id": "agent-7"}, "agent_id"),
    ("malformed run id", {"run_id": "1234"}, "run_id"),
    ("ttl below 300", {"ttl_seconds": 299}, "ttl_seconds"),
    ("ttl above 3600", {"ttl_seconds": 3601}, "ttl_seconds"),
    ("ttl as a string", {"ttl_seconds": "900"}, "ttl_seconds"),
    ("fractional ttl", {"ttl_seconds": 900.5}, "ttl_seconds"),
    ("boolean ttl", {"ttl_seconds": True}, "ttl_seconds"),
    ("oversized reason", {"reason": "x" * 501}, "reason"),
    ("empty reason", {"reason": ""}, "reason"),
    ("unknown field", {"ttl_second": 900}, "ttl_second"),
    ("source_context without channel_id", {"source_context": {"channel_type": "slack"}}, "source_context"),
]


@pytest.mark.parametrize(("case", "override", "field"), GRANT_BAD_BODIES, ids=[c[0] for c in GRANT_BAD_BODIES])
def test_malformed_grant_request_is_refused_and_writes_nothing(bt: BrokerUnderTest, case: str, override: dict[str, Any], field: str) -> None:
    before = bt.counts()
    reply = bt.client.post("/aws/grants", json=bt.grant_body(**override), headers=bt.headers())
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"].startswith("INVALID_INPUT: ")
    assert field in reply.json()["error"]
    assert bt.counts() == before


def test_invalid_input_error_does_not_echo_the_offending_value(bt: BrokerUnderTest) -> None:
    secret_looking = "AKIA" + "Q" * 16
    reply = bt.client.post("/aws/grants", json=bt.grant_body(account_id=secret_looking), headers=bt.headers())
    assert reply.status_code == 400
    assert secret_looking not in reply.text


@pytest.mark.parametrize("path", ["/aws/grants/not-a-uuid", "/aws/grants/123"])
def test_malformed_grant_id_is_refused(bt: BrokerUnderTest, path: str) -> None:
    reply = bt.client.get(path, params={"agent_id": bt.agent_id}, headers=bt.headers())
    assert reply.status_code == 400
    assert "grant_id" in reply.json()["error"]


def test_unknown_grant_id_is_not_found(bt: BrokerUnderTest) -> None:
    before = bt.counts()
    for method, suffix in (("get", ""), ("post", "/credentials"), ("post", "/release")):
        reply = getattr(bt.client, method)(f"/aws/grants/{uuid.uuid4()}{suffix}", params={"agent_id": bt.agent_id},
                                           headers=bt.headers())
        assert reply.status_code == 404, (suffix, reply.text)
        assert "GRANT_NOT_FOUND" in reply.json()["error"]
    assert bt.counts() == before


def test_another_agents_grant_is_invisible(bt: BrokerUnderTest) -> None:
    grant = bt.client.post("/aws/grants", json=bt.grant_body(), headers=bt.headers()).json()
    assert grant["status"] == "active"
    before = bt.counts()
    for method, suffix in (("get", ""), ("post", "/credentials"), ("post", "/release")):
        reply = getattr(bt.client, method)(f"/aws/grants/{grant['grant_id']}{suffix}",
                                           params={"agent_id": bt.other_agent_id}, headers=bt.headers())
        assert reply.status_code == 404, reply.text
    assert bt.counts() == before
    assert bt.client.get(f"/aws/grants/{grant['grant_id']}", params={"agent_id": bt.agent_id},
                         headers=bt.headers()).json()["status"] == "active"


def test_host_cannot_act_for_an_agent_of_another_host(bt: BrokerUnderTest) -> None:
    before = bt.counts()
    reply = bt.client.post("/aws/grants", json=bt.grant_body(agent_id=bt.foreign_agent_id), headers=bt.headers())
    assert reply.status_code == 403
    assert "may not act for agent" in reply.json()["error"]
    assert bt.counts() == before


def _forged(host: str, key: bytes, **claims: Any) -> str:
    now = datetime.now(UTC)
    body = {"iss": "cloud-broker", "aud": "cloud-broker-api", "sub": host, "iat": int(now.timestamp()),
            "exp": int((now + timedelta(hours=1)).timestamp()), **claims}
    return jwt.encode(body, key, algorithm="HS256")


@pytest.mark.parametrize(
    "token_kind", ["forged-signature", "expired", "alg-none", "garbage", "missing"],
)
def test_bad_tokens_are_refused_and_write_nothing(bt: BrokerUnderTest, token_kind: str) -> None:
    past = datetime.now(UTC) - timedelta(hours=2)
    headers = {
        "forged-signature": {"Authorization": "Bearer " + _forged("host-a", b"k" * 32)},
        "expired": {"Authorization": "Bearer " + bt.tokens.issue("host-a", now=past)},
        "alg-none": {"Authorization": "Bearer " + jwt.encode({"sub": "host-a"}, None, algorithm="none")},
        "garbage": {"Authorization": "Bearer not.a.jwt"},
        "missing": {},
    }[token_kind]
    before = bt.counts()
    reply = bt.client.post("/aws/grants", json=bt.grant_body(), headers=headers)
    assert reply.status_code == 401, reply.text
    assert reply.json()["error"].split(":")[0] in {"UNAUTHENTICATED", "TOKEN_INVALID", "TOKEN_EXPIRED"}
    assert bt.counts() == before


def test_expired_token_says_so(bt: BrokerUnderTest) -> None:
    past = datetime.now(UTC) - timedelta(hours=2)
    reply = bt.client.get("/aws/inventory", params={"agent_id": bt.agent_id},
                          headers={"Authorization": "Bearer " + bt.tokens.issue("host-a", now=past)})
    assert reply.status_code == 401
    assert "expired" in reply.json()["error"]


@pytest.mark.parametrize("key", ["tlk_wrong", "", "x" * 600])
def test_wrong_host_key_is_refused_without_echo(bt: BrokerUnderTest, key: str) -> None:
    reply = bt.client.post("/host/exchange", json={"host_key": key})
    assert reply.status_code in (400, 401)
    assert "token" not in reply.json()
    if key:
        assert key not in reply.text


def test_right_host_key_exchanges_for_an_hour_long_token(bt: BrokerUnderTest) -> None:
    reply = bt.client.post("/host/exchange", json={"host_key": bt.host_key})
    assert reply.status_code == 200
    body = reply.json()
    assert body["expires_in"] == 3600
    assert bt.tokens.verify(body["token"]) == "host-a"


def test_unknown_enrolment_is_not_found(bt: BrokerUnderTest) -> None:
    reply = bt.client.get("/aws/scope", params={"agent_id": bt.agent_id, "account_id": "999999999999"}, headers=bt.headers())
    assert reply.status_code == 404
    assert "NO_ENROLMENT" in reply.json()["error"]


def test_an_oversized_body_is_refused_before_it_is_parsed(bt: BrokerUnderTest) -> None:
    before = bt.counts()
    huge = bt.grant_body(reason="x" * 600_000)
    reply = bt.client.post("/aws/grants", json=huge, headers=bt.headers())
    assert reply.status_code == 413
    assert reply.json()["error"].startswith("PAYLOAD_TOO_LARGE")
    assert bt.counts() == before


def test_an_oversized_chunked_body_is_refused(bt: BrokerUnderTest) -> None:
    def chunks() -> Any:
        yield b'{"reason": "'
        for _ in range(100):
            yield b"x" * 10_000
        yield b'"}'

    reply = bt.client.post("/aws/grants", content=chunks(), headers={**bt.headers(), "Content-Type": "application/json"})
    assert reply.status_code == 413


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("delete", "/aws/grants", "POST"), ("put", "/aws/scope", "GET"), ("trace", "/healthz", "GET"),
])
def test_a_wrong_method_is_405_and_names_the_allowed_ones(bt: BrokerUnderTest, method: str, path: str,
                                                          allowed: str) -> None:
    # RFC 9110 requires ``Allow`` on a 405; the error boundary used to drop the router's headers.
    before = bt.counts()
    reply = bt.client.request(method, path, headers=bt.headers())
    assert reply.status_code == 405
    assert reply.json()["error_code"] == "METHOD_NOT_ALLOWED"
    assert reply.headers["allow"] == allowed
    assert bt.counts() == before


# Only values no version accepts: a stream opened by mistake would never end in the test client.
@pytest.mark.parametrize("cursor", ["9" * 5000, "null", "-1", "1e3"], ids=["5000 digits", "null", "-1", "1e3"])
def test_a_malformed_last_event_id_is_refused_before_the_stream_opens(bt: BrokerUnderTest, cursor: str) -> None:
    # 5,000 digits used to pass the digit check and reach int(), past Python's conversion limit: a 500.
    reply = bt.client.get("/aws/events", params={"agent_id": bt.agent_id},
                          headers={**bt.headers(), "Last-Event-ID": cursor})
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"].startswith("INVALID_INPUT: ")
    assert "last-event-id" in reply.json()["error"].lower()
    assert cursor not in reply.text


@pytest.mark.parametrize(("body", "problem"), [
    (b'{"account_id": "1234', "not valid JSON"),
    (b'{"account_id": "\xff"}', "error parsing the body"),  # not UTF-8: the framework's own 400
])
def test_an_unparsable_body_is_invalid_input_and_writes_nothing(bt: BrokerUnderTest, body: bytes, problem: str) -> None:
    before = bt.counts()
    reply = bt.client.post("/aws/grants", content=body, headers={**bt.headers(), "content-type": "application/json"})
    assert reply.status_code == 400
    assert reply.json()["error_code"] == "INVALID_INPUT"
    assert reply.json()["error"].startswith("INVALID_INPUT: ") and problem in reply.json()["error"]
    assert bt.counts() == before


# AWS's own documented example key and secret, assembled here so that no key-shaped literal is
# committed (secret scanners rightly flag one).
EXAMPLE_KEY = "AKIA" + "IOSFODNN7EXAMPLE"
EXAMPLE_SECRET = "aws_secret_access_key=" + "wJalrXUtnFEMI/K7MDENG"


@pytest.mark.parametrize("key", [EXAMPLE_KEY, EXAMPLE_SECRET, "x" * 41, "Bearer eyJhbGciOi"])
def test_an_unknown_field_is_refused_without_echoing_a_name_that_could_be_a_secret(
        bt: BrokerUnderTest, key: str) -> None:
    before = bt.counts()
    reply = bt.client.post("/aws/grants", json={**bt.grant_body(), key: "x"}, headers=bt.headers())
    assert reply.status_code == 400 and "unknown field" in reply.json()["error"]
    assert key not in reply.text and "<unrecognised field>" in reply.text
    assert bt.counts() == before


def test_an_unknown_field_named_like_ours_is_named_back(bt: BrokerUnderTest) -> None:
    reply = bt.client.post("/aws/grants", json={**bt.grant_body(), "ttl_second": 900}, headers=bt.headers())
    assert reply.status_code == 400 and "ttl_second: unknown field" in reply.json()["error"]
