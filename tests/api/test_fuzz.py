"""The agent API against a property-based fuzzer driven by its own ``/openapi.json``.

Schemathesis reads the document the broker serves and generates requests from it, valid ones
(positive) and invalid ones (negative), with a valid host token and without one. They go
in-process to a real broker (``bt``: SQLite on disk, STS on the emulator), and every answer is
held to the API's promises (:func:`keeps_promises`):

* no 5xx, whatever comes in;
* every refusal is the one envelope: a JSON object whose ``error`` string starts with its
  ``error_code`` (the published client shows the model only ``error``);
* success is JSON (the event stream excepted, which the document declares as such);
* a refused request writes nothing: no grant, no secret, no audit row.

Schemathesis' own checks hold the document to account as well: a status or content type it
does not declare, a body that does not fit the declared envelope, a schema-valid request refused
with 400 (the document promised more than the API accepts), a schema-invalid one accepted, a 405
without ``Allow``, a route that declares the Bearer scheme but answers without it.

Random ids would almost never name anything, so positive requests are sometimes aimed at what
the broker holds (its agents, its account, an active, a pending and a released grant; see
:func:`aim`): that is how generated bodies reach the policy engine, the vault and STS.

Each operation gets schemathesis' coverage phase (boundary values, missing parameters, every
undeclared method) and ``EXAMPLES`` Hypothesis examples. Reproducible: a fixed seed, derandomized
Hypothesis, no example database, no generation steered by answers (their ids differ per run),
and aiming decided by a hash of the generated request. Bounded: an event stream is cut after its
first frame (``max-stream-events``), so a subscription the fuzzer gets right cannot hold the
suite; a request that did hang would end at ``request-timeout`` and fail the test.

The schema is loaded at import, from a broker-less app: ``schemathesis.pytest.from_fixture``
would fit better, but under pytest 9.2 it fails (it sets ``Function._nodeid``, gone in 9.2).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import jwt
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case, GenerationMode, Response
from schemathesis.python.asgi import shutdown_lifespans

from cloud_broker.api.app import create_app
from cloud_broker.api.tokens import TokenIssuer
from cloud_broker.service.broker import Broker
from tests.api.conftest import ACCOUNT, BrokerUnderTest, broker_under_test

EXAMPLES = 40
SEED = 20240611
PROTECTED = r"^/(aws|gcp|supabase|secret-refs)/"
"""Every route under a family prefix needs a host token; ``/host/exchange`` and the ops routes do not."""


def _document_app() -> Any:
    # The document depends on the route declarations only, and the tests need it before any
    # broker exists (to generate one test per operation). Every request goes to ``fuzz.app``;
    # one sent here by mistake would fail loudly, as this app has no broker.
    return create_app(cast(Broker, None), TokenIssuer(b"\0" * 32))


def _config(*, examples: int, acceptance: list[int], ignored_auth: bool) -> schemathesis.Config:
    return schemathesis.Config.from_dict({
        "seed": SEED,
        "max-stream-events": 1,
        "request-timeout": 30,
        "generation": {"mode": "all", "max-examples": examples, "deterministic": True, "database": "none",
                       # The token is ours to choose (valid or not); nothing generated stands in for it.
                       "with-security-parameters": False},
        # Generation learns nothing from answers (ids, error texts): they differ from run to run.
        "phases": {"fuzzing": {"extra-data-sources": {"responses": False}, "error-feedback": {"enabled": False}},
                   "coverage": {"extra-data-sources": {"responses": False}},
                   "examples": {"extra-data-sources": {"responses": False}}},
        "checks": {
            "positive_data_acceptance": {"expected-statuses": acceptance},
            "ignored_auth": {"enabled": ignored_auth},
        },
    })


# What a schema-valid request may get back besides 200: unknown or foreign agent, enrolment or
# grant (403/404), a grant in the wrong state (409/410), a cap reached (429), a host key the broker
# does not know (401). Never 400: that would mean the document accepts what the API refuses.
AUTHENTICATED = schemathesis.openapi.from_asgi(
    "/openapi.json", _document_app(),
    config=_config(examples=EXAMPLES, acceptance=[200, 401, 403, 404, 409, 410, 429], ignored_auth=True))
UNAUTHENTICATED = schemathesis.openapi.from_asgi(
    "/openapi.json", _document_app(), config=_config(examples=EXAMPLES // 2, acceptance=[401], ignored_auth=False),
).include(path_regex=PROTECTED)
DOCUMENT = AUTHENTICATED.raw_schema


@dataclass
class Fuzzed:
    """The broker under fuzz and what a request can name in it."""

    bt: BrokerUnderTest
    agents: list[str]
    grants: list[str]

    @property
    def app(self) -> Any:
        return self.bt.client.app


@pytest.fixture
def fuzz(emulator: Any, tmp_path: Path) -> Iterator[Fuzzed]:
    with broker_under_test(emulator, tmp_path) as bt:
        served = bt.client.get("/openapi.json")
        assert served.json() == DOCUMENT, "the fuzzer must read the document the broker serves"
        active = bt.client.post("/aws/grants", json=bt.grant_body(), headers=bt.headers()).json()
        pending = bt.client.post("/aws/grants", json=bt.grant_body(actions=["s3:PutObject"]),
                                 headers=bt.headers()).json()
        released = bt.client.post("/aws/grants", json=bt.grant_body(), headers=bt.headers()).json()
        bt.client.post(f"/aws/grants/{released['grant_id']}/release", params={"agent_id": bt.agent_id},
                       headers=bt.headers())
        assert (active["status"], pending["status"]) == ("active", "pending")
        yield Fuzzed(bt, agents=[bt.agent_id, bt.other_agent_id, bt.foreign_agent_id],
                     grants=[active["grant_id"], pending["grant_id"], released["grant_id"]])
        # Schemathesis' ASGI transport keeps each app it served (and so its broker) alive for the
        # rest of the process unless told otherwise.
        shutdown_lifespans()


def aim(case: Case, fuzz: Fuzzed) -> None:
    """Point three in four positive requests at what the broker holds; never touch a negative one.

    Swapping one schema-valid id for another keeps the request valid, so the checks that judge
    positive and negative cases by their generation mode stay right. The choices follow from the
    generated request itself (:func:`pick`), so a run is reproducible and its failures shrink.
    """
    if case.meta is None or case.meta.generation.mode is not GenerationMode.POSITIVE:
        return
    choice = pick(case)
    if choice % 4 == 0:
        return
    agent = [fuzz.bt.agent_id, *fuzz.agents][choice // 4 % (len(fuzz.agents) + 1)]  # its own agent, twice as often
    grant = fuzz.grants[choice // 16 % len(fuzz.grants)]
    for params, name, value in ((case.query, "agent_id", agent), (case.query, "account_id", ACCOUNT),
                                (case.path_parameters, "grant_id", grant), (case.body, "agent_id", agent),
                                (case.body, "account_id", ACCOUNT), (case.body, "host_key", fuzz.bt.host_key)):
        if isinstance(params, dict) and name in params:
            params[name] = value


def pick(case: Case) -> int:
    """A number that depends on the generated request only (not on the run, the process or the clock)."""
    generated = json.dumps([case.method, case.path, case.path_parameters, case.query, case.headers, case.body],
                           sort_keys=True, default=_stable)
    return int.from_bytes(hashlib.blake2b(generated.encode(), digest_size=8).digest(), "big")


def _stable(value: object) -> str:
    # Bytes by content; anything else (schemathesis' "no body" marker) by type, never by address.
    return value.hex() if isinstance(value, bytes) else type(value).__name__


def keeps_promises(case: Case, response: Response, before: tuple[int, int, int], bt: BrokerUnderTest) -> None:
    """The promises of the module docstring, for one request and its answer."""
    shown = f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:500]}"
    assert response.status_code < 500, shown
    media_type = (response.headers.get("content-type") or [""])[0].split(";")[0].strip()
    if response.status_code >= 400:
        assert media_type == "application/json", shown
        body = json.loads(response.text)
        assert isinstance(body, dict) and isinstance(body.get("error"), str), shown
        assert isinstance(body.get("error_code"), str) and re.fullmatch(r"[A-Z][A-Z0-9_]*", body["error_code"]), shown
        assert body["error"].startswith(body["error_code"] + ": "), shown
        assert bt.counts() == before, f"a refused request wrote rows: {shown}"
        return
    assert 200 <= response.status_code < 300, shown
    if media_type == "text/event-stream":
        assert case.path in ("/events", "/aws/events"), shown
        assert response.text.startswith("id: ") and "\nevent: ready\n" in response.text, shown
        return
    assert media_type == "application/json", shown
    assert isinstance(json.loads(response.text), dict), shown


@AUTHENTICATED.parametrize()
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])  # one broker per operation, on purpose
def test_the_api_keeps_its_promises_to_an_authenticated_fuzzer(case: Case, fuzz: Fuzzed) -> None:
    aim(case, fuzz)
    headers = fuzz.bt.headers()
    before = fuzz.bt.counts()
    response = case.call(app=fuzz.app, headers=headers)
    keeps_promises(case, response, before, fuzz.bt)
    case.validate_response(response, headers=headers, transport_kwargs={"app": fuzz.app, "headers": headers})
    assert fuzz.app.state.event_streams.open_for("host-a") == 0, "an event stream kept its slot"


def _bad_tokens(bt: BrokerUnderTest) -> dict[str, dict[str, str]]:
    now = datetime.now(UTC)
    forged = jwt.encode({"iss": "cloud-broker", "aud": "cloud-broker-api", "sub": "host-a", "bnd": "operator",
                         "iat": int(now.timestamp()), "exp": int((now + timedelta(hours=1)).timestamp())},
                        b"k" * 32, algorithm="HS256")
    return {
        "missing": {},
        "garbage": {"Authorization": "Bearer not.a.jwt"},
        "forged": {"Authorization": f"Bearer {forged}"},
        "expired": {"Authorization": f"Bearer {bt.tokens.issue('host-a', now=now - timedelta(hours=2))}"},
        "unknown host": {"Authorization": f"Bearer {bt.tokens.issue('host-z')}"},
        "other scheme": {"Authorization": f"Basic {bt.tokens.issue('host-a')}"},
    }


@UNAUTHENTICATED.parametrize()
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_the_api_refuses_a_fuzzer_without_a_valid_token(case: Case, fuzz: Fuzzed) -> None:
    tokens = _bad_tokens(fuzz.bt)
    headers = tokens[sorted(tokens)[pick(case) % len(tokens)]]
    aim(case, fuzz)
    before = fuzz.bt.counts()
    response = case.call(app=fuzz.app, headers=headers)
    keeps_promises(case, response, before, fuzz.bt)
    if response.status_code != 401:
        # Refused before anyone asks for a token: a wrong method, an oversized body, or one that
        # cannot be parsed at all (FastAPI reads the body before it resolves dependencies).
        error = json.loads(response.text)["error"]
        assert response.status_code in (405, 413) or (response.status_code == 400 and "body" in error), \
            f"{case.method} {case.formatted_path} -> {response.status_code}: {error}"
    case.validate_response(response, headers=headers, transport_kwargs={"app": fuzz.app, "headers": headers})
