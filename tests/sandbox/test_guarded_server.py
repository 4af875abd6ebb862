"""moto's control API (``/moto-api/``) is refused once the emulator is seeded.

moto serves it unauthenticated: ``reset-auth`` switches IAM enforcement off, ``reset``
wipes every backend, ``data.json`` dumps every secret key. An agent holding scoped
credentials could use it to escape its session policy, so the sandbox answers 403 (no
AWS behaviour to mirror: AWS has no such API; stock moto would obey).

The attempts are made once, against the shared emulator: were the guard missing, they
would switch its auth off and wipe it, and the tests after them here would say so.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any, NamedTuple

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import settings

from cloud_broker.sandbox.emulator import Emulator
from cloud_broker.sandbox.guarded_server import GuardedMotoServer

from .support import minutes_from_now, read_reports_grant

UNKNOWN = {"aws_access_key_id": "AKIA" + "UNKNOWNKEY654321", "aws_secret_access_key": "not-a-real-secret"}
# A SigV4 scope naming moto's control service: moto's dispatcher routes it to the control app
# whatever the path, so the guard must not rely on the "/moto-api" prefix alone.
FORGED_SCOPE = (
    f"AWS4-HMAC-SHA256 Credential={UNKNOWN['aws_access_key_id']}/20250101/us-east-1/motoapi.amazonaws.com/aws4_request, "
    "SignedHeaders=host, Signature=0"
)
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Attempt(NamedTuple):
    method: str
    path: str
    body: bytes | None = None
    headers: tuple[tuple[str, str], ...] = ()


# In this order: the dump comes before anything that, unrefused, would wipe what it could reveal.
ATTEMPTS = {
    "data.json": Attempt("GET", "/moto-api/data.json"),
    "dashboard": Attempt("GET", "/moto-api/"),
    # moto reads the body as a bare number (not a form, hence the type): "inf" means auth off for good.
    "reset-auth": Attempt("POST", "/moto-api/reset-auth", b"inf", (("Content-Type", "text/plain"),)),
    "reset": Attempt("POST", "/moto-api/reset"),
    "forged-scope": Attempt("POST", "//moto-api/reset", headers=(("Authorization", FORGED_SCOPE),)),
}


class Answer(NamedTuple):
    status: int
    content_type: str
    body: bytes


def call(url: str, method: str = "GET", body: bytes | None = None, headers: dict[str, str] | None = None) -> Answer:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with _OPENER.open(request, timeout=10) as response:
            return Answer(response.status, response.headers.get("Content-Type", ""), response.read())
    except urllib.error.HTTPError as refused:
        return Answer(refused.code, refused.headers.get("Content-Type", ""), refused.read())


@pytest.fixture(scope="module")
def attempts(emulator: Emulator) -> dict[str, Answer]:
    """Each control call an escaping agent would make, made once, after seeding."""
    return {
        name: call(emulator.endpoint_url + attempt.path, attempt.method, attempt.body, dict(attempt.headers))
        for name, attempt in ATTEMPTS.items()
    }


@pytest.mark.parametrize("name", list(ATTEMPTS))
def test_the_control_api_is_refused_after_seeding(attempts: dict[str, Answer], name: str) -> None:
    """Every request that reaches moto's control app gets 403 with a short AWS-style XML error."""
    answer = attempts[name]
    assert answer.status == 403
    assert answer.content_type == "application/xml"
    assert b"<Code>AccessDenied</Code>" in answer.body
    assert len(answer.body) < 300


def test_the_refused_state_dump_reveals_no_secret(attempts: dict[str, Answer], emulator: Emulator) -> None:
    """data.json would list the source user's secret key; the refusal carries none of it."""
    assert emulator.source_secret_access_key.encode() not in attempts["data.json"].body
    assert emulator.source_access_key_id.encode() not in attempts["data.json"].body


def test_an_unknown_key_is_still_refused_after_the_attempts(attempts: dict[str, Answer], emulator: Emulator) -> None:
    """reset-auth was refused: IAM enforcement stays on, with no free unauthenticated calls."""
    sts = boto3.client("sts", endpoint_url=emulator.endpoint_url, region_name=emulator.region, **UNKNOWN)
    with pytest.raises(ClientError) as refused:
        sts.get_caller_identity()
    assert refused.value.response["Error"]["Code"] == "InvalidClientTokenId"
    assert settings.INITIAL_NO_AUTH_ACTION_COUNT == 0


def test_a_scoped_session_still_cannot_exceed_its_session_policy(
    attempts: dict[str, Answer], assume: Callable[..., Any], client_as: Callable[..., Any]
) -> None:
    """reset was refused: the seeded world is intact, and the grant reads reports but writes nothing."""
    s3 = client_as("s3", assume(read_reports_grant(until=minutes_from_now(30))))
    assert s3.get_object(Bucket="reports", Key="today.csv")["Body"].read().startswith(b"date,")
    with pytest.raises(ClientError) as refused:
        s3.put_object(Bucket="reports", Key="escape.csv", Body=b"x")
    assert refused.value.response["Error"]["Code"] == "AccessDenied"


def test_the_control_api_answers_until_closed_and_the_port_is_freed_on_stop() -> None:
    """Seeding needs /moto-api/reset, so the guard is off until close_control_api; stop frees the port.

    A second server on moto's shared state: it only reads moto's config, changing nothing.
    """
    server = GuardedMotoServer()
    server.start()
    try:
        opened = call(server.endpoint_url + "/moto-api/config")
        assert opened.status < 400 and b"use_docker" in opened.body  # moto answers 201 here
        server.close_control_api()
        assert call(server.endpoint_url + "/moto-api/config").status == 403
    finally:
        server.stop()
    with pytest.raises(urllib.error.URLError):
        _OPENER.open(server.endpoint_url + "/moto-api/config", timeout=2)
