"""Single sign-on's bounds and early refusals, without a browser: the sealed state cookie, the
size and time limits on every answer of the provider, and the checks that refuse a return
before anything is sent to the provider.

The provider's HTTP side is an ``httpx.MockTransport`` here (its real counterpart is exercised
in test_console_sso_browser.py); each handler counts what was asked of it.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from cloud_broker.config import ConsoleSso, parse_config
from cloud_broker.errors import ConfigError
from cloud_broker.web.checks import Busy, CheckSlots
from cloud_broker.web.issuer import MAX_RESPONSE, Issuer, IssuerUnavailable, SsoRefused
from cloud_broker.web.sessions import COOKIE
from cloud_broker.web.sso import NO_SIGN_IN, STATE_MISMATCH, NotAnApprover, SingleSignOn
from cloud_broker.web.sso_state import MAX_SEALED, PENDING_TTL, PendingSignIn, StateSeal
from tests.api.conftest import Clock
from tests.web.conftest import ConsoleUnderTest, console_under_test

ISSUER = "https://login.example.com"
SETTINGS = ConsoleSso(issuer=ISSUER, client_id="console", client_secret_env="SSO_SECRET")
DISCOVERY = {"issuer": ISSUER, "authorization_endpoint": f"{ISSUER}/authorize", "token_endpoint": f"{ISSUER}/token",
             "jwks_uri": f"{ISSUER}/jwks", "id_token_signing_alg_values_supported": ["RS256"]}
CHUNK = 4096


def issuer_with(handler: Any, clock: Clock | None = None, **kwargs: Any) -> Issuer:
    return Issuer(SETTINGS, "the-client-secret", "https://broker.example.com/console/sso/callback",
                  clock or Clock(), transport=httpx.MockTransport(handler), **kwargs)


def pending_sign_in(clock: Clock) -> PendingSignIn:
    return PendingSignIn(state="s" * 43, nonce="n" * 43, verifier="v" * 64, next="/history", started_at=clock())


# --- the sealed state cookie -------------------------------------------------------------------

def test_a_sealed_sign_in_opens_again_unchanged_and_hides_its_values() -> None:
    clock = Clock()
    seal = StateSeal(os.urandom(32), clock)
    pending = pending_sign_in(clock)
    sealed = seal.seal(pending)
    assert seal.open(sealed) == pending
    assert pending.verifier not in sealed and pending.nonce not in sealed and len(sealed) < MAX_SEALED


@pytest.mark.parametrize("spoil", [
    # One character changed, mid-cookie: every bit of it is ciphertext (a last character may
    # carry padding bits that decode the same whatever they are).
    lambda v: v[: len(v) // 2] + ("A" if v[len(v) // 2] != "A" else "B") + v[len(v) // 2 + 1:],
    lambda v: v[: len(v) // 2],  # cut short
    lambda v: "A" * (MAX_SEALED + 1),  # longer than any cookie made here
    lambda v: "not base64 at all!",
    lambda v: "",
])
def test_an_altered_or_foreign_state_cookie_opens_to_nothing(spoil: Any) -> None:
    seal = StateSeal(os.urandom(32), Clock())
    assert seal.open(spoil(seal.seal(pending_sign_in(Clock())))) is None


def test_a_state_cookie_sealed_under_another_key_opens_to_nothing() -> None:
    clock = Clock()
    assert StateSeal(os.urandom(32), clock).open(StateSeal(os.urandom(32), clock).seal(pending_sign_in(clock))) is None


def test_a_state_cookie_older_than_its_lifetime_opens_to_nothing() -> None:
    clock = Clock()
    seal = StateSeal(os.urandom(32), clock)
    sealed = seal.seal(pending_sign_in(clock))
    clock.offset += PENDING_TTL - timedelta(seconds=1)
    assert seal.open(sealed) is not None
    clock.offset += timedelta(seconds=2)
    assert seal.open(sealed) is None


# --- bounded answers from the provider ----------------------------------------------------------

class Endless(httpx.SyncByteStream):
    """An answer that never ends, counting the chunks it was asked for."""

    def __init__(self) -> None:
        self.chunks = 0

    def __iter__(self) -> Iterator[bytes]:
        while True:
            self.chunks += 1
            yield b" " * CHUNK


def test_an_endless_answer_is_cut_off_after_the_size_limit() -> None:
    body = Endless()
    issuer = issuer_with(lambda request: httpx.Response(200, stream=body))
    with pytest.raises(IssuerUnavailable, match="too large"):
        issuer.metadata()
    assert body.chunks <= MAX_RESPONSE // CHUNK + 1


class Trickle(httpx.SyncByteStream):
    """An answer of one byte at a time, each after a pause, counting the bytes sent."""

    def __init__(self) -> None:
        self.sent = 0

    def __iter__(self) -> Iterator[bytes]:
        while self.sent < 1000:
            time.sleep(0.01)
            self.sent += 1
            yield b" "


def test_an_answer_that_trickles_in_is_given_up_on_at_the_deadline() -> None:
    body = Trickle()
    issuer = issuer_with(lambda request: httpx.Response(200, stream=body), deadline=timedelta(milliseconds=50))
    with pytest.raises(IssuerUnavailable, match="too slow"):
        issuer.metadata()
    assert body.sent < 1000  # cut off, not read to its end


def test_an_answer_declared_too_large_is_refused_unread() -> None:
    body = Endless()
    issuer = issuer_with(lambda request: httpx.Response(200, stream=body, headers={"Content-Length": str(10**9)}))
    with pytest.raises(IssuerUnavailable, match="too large"):
        issuer.metadata()
    assert body.chunks == 0


def test_a_compressed_answer_is_refused_and_asked_for_uncompressed() -> None:
    asked: list[str] = []
    body = Endless()

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(request.headers["accept-encoding"])
        return httpx.Response(200, stream=body, headers={"Content-Encoding": "gzip"})

    with pytest.raises(IssuerUnavailable, match="compressed"):
        issuer_with(handler).metadata()
    assert asked == ["identity"] and body.chunks == 0


def test_a_provider_that_never_answers_is_given_up_on() -> None:
    with socket.socket() as silent:  # accepts connections (backlog) and never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        local = ConsoleSso(issuer=f"http://127.0.0.1:{port}", client_id="console", client_secret_env="SSO_SECRET")
        issuer = Issuer(local, "secret", "http://127.0.0.1/console/sso/callback", Clock(),
                        timeout=httpx.Timeout(0.2))
        with pytest.raises(IssuerUnavailable, match="could not be reached"):
            issuer.metadata()


def test_discovery_naming_another_issuer_is_refused() -> None:
    issuer = issuer_with(lambda request: httpx.Response(200, json={**DISCOVERY, "issuer": "https://evil.example.com"}))
    with pytest.raises(IssuerUnavailable, match="names another issuer"):
        issuer.metadata()


def test_discovery_is_fetched_once_then_again_after_an_hour() -> None:
    fetched: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        fetched.append(str(request.url))
        return httpx.Response(200, json=DISCOVERY)

    clock = Clock()
    issuer = issuer_with(handler, clock)
    for _ in range(3):
        issuer.metadata()
    assert fetched == [f"{ISSUER}/.well-known/openid-configuration"]
    clock.offset += timedelta(hours=1, seconds=1)
    issuer.metadata()
    assert len(fetched) == 2


def test_the_authorization_url_carries_an_s256_challenge_never_the_verifier() -> None:
    clock = Clock()
    pending = pending_sign_in(clock)
    url = issuer_with(lambda request: httpx.Response(200, json=DISCOVERY), clock).authorization_url(pending)
    query = parse_qs(urlsplit(url).query)
    assert url.startswith(f"{ISSUER}/authorize?")
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0] != pending.verifier
    assert query["state"] == [pending.state] and query["nonce"] == [pending.nonce]
    assert query["response_type"] == ["code"] and "openid" in query["scope"][0].split()
    assert pending.verifier not in url


def test_a_token_endpoint_error_refuses_without_echoing_the_provider() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            return httpx.Response(400, json={"error": "invalid_grant", "error_description": "code abc123 is spent"})
        return httpx.Response(200, json=DISCOVERY)

    with pytest.raises(SsoRefused) as refused:
        issuer_with(handler).verified_claims("abc123", pending_sign_in(Clock()))
    assert refused.value.reason == "the provider's token endpoint refused the request (HTTP 400)"


# --- refusals before the provider is asked anything ---------------------------------------------

def _sso(calls: list[str], slots: CheckSlots | None = None) -> tuple[SingleSignOn, StateSeal]:
    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(200, json=DISCOVERY)

    clock = Clock()
    config = parse_config({"broker": {"public_url": "https://broker.example.com", "console_sso": {
        "issuer": ISSUER, "client_id": "console", "client_secret_env": "SSO_SECRET"}}})
    seal = StateSeal(os.urandom(32), clock)
    return SingleSignOn(config, issuer_with(handler, clock), seal, clock, slots), seal


@pytest.mark.parametrize(("params", "cookie", "reason"), [
    ({"state": "x", "code": "c"}, None, NO_SIGN_IN),
    ({"code": "c"}, "ours", STATE_MISMATCH),
    ({"state": "another", "code": "c"}, "ours", STATE_MISMATCH),
    ({"state": "ours", "error": "access_denied"}, "ours", "the provider did not sign you in"),
    ({"state": "ours"}, "ours", "the provider's answer carries no usable code"),
    ({"state": "ours", "code": "c" * 5000}, "ours", "the provider's answer carries no usable code"),
])
def test_a_return_is_refused_before_any_exchange(params: dict[str, str], cookie: str | None, reason: str) -> None:
    calls: list[str] = []
    sso, _ = _sso(calls)
    url, sealed = sso.start("/")
    state = parse_qs(urlsplit(url).query)["state"][0]
    params = {k: state if v == "ours" else v for k, v in params.items()}
    with pytest.raises(SsoRefused) as refused:
        sso.finish(params, sealed if cookie == "ours" else None)
    assert refused.value.reason == reason
    assert "/token" not in calls


def test_a_return_waits_for_no_slot_when_every_exchange_slot_is_taken() -> None:
    calls: list[str] = []
    sso, _ = _sso(calls, CheckSlots(slots=1, queue=0))
    url, sealed = sso.start("/")
    state = parse_qs(urlsplit(url).query)["state"][0]
    with sso.slots.slot(), pytest.raises(Busy):
        sso.finish({"state": state, "code": "c"}, sealed)
    assert "/token" not in calls


def test_the_pending_sign_in_remembers_a_start_time_in_utc() -> None:
    sso, seal = _sso([])
    _, sealed = sso.start("/history")
    pending = seal.open(sealed)
    assert pending is not None and pending.next == "/history"
    assert pending.started_at.tzinfo is not None and pending.started_at <= datetime.now(UTC)


# --- a console without single sign-on, and one without its secret --------------------------------

def test_a_console_without_single_sign_on_offers_none(ct: ConsoleUnderTest) -> None:
    page = ct.client.get("/console/login")
    assert page.status_code == 200 and "single sign-on" not in page.text
    for path in ("/console/sso/start", "/console/sso/callback?state=s&code=c"):
        refused = ct.client.get(path, follow_redirects=False)
        assert refused.status_code == 404 and "Single sign-on is not configured" in refused.text
        assert COOKIE not in refused.headers.get("set-cookie", "")


def test_the_console_is_not_installed_without_the_client_secret(emulator: Any, tmp_path: Path) -> None:
    def with_sso(data: dict[str, Any]) -> None:
        data["broker"] = {"public_url": "https://broker.example.com", "console_sso": {
            "issuer": ISSUER, "client_id": "console", "client_secret_env": "SSO_SECRET"}}

    with pytest.raises(ConfigError) as refused:
        console_under_test(emulator, tmp_path, with_sso, secrets={"OTHER": "x"})
    assert "environment variable SSO_SECRET is not set" in str(refused.value)


@pytest.mark.parametrize(("claims", "approver"), [
    ({"email": "alice@example.com"}, None),  # not said to be verified: anyone's
    ({"email": "alice@example.com", "email_verified": True}, "alice"),
    ({"email": "alice@example.com", "email_verified": "true"}, "alice"),
    ({"email": "alice@example.com", "email_verified": False}, None),
    ({"email": "alice@example.com", "email_verified": "false"}, None),
    ({"email": "mallory@example.com"}, None),
    ({"email": ["alice@example.com"]}, None),
    ({"preferred_username": "alice@example.com"}, None),
])
def test_the_configured_claim_must_name_a_declared_approver(claims: dict[str, Any], approver: str | None) -> None:
    config = parse_config({"approvers": [{"name": "alice", "sso_id": "alice@example.com"}], "broker": {
        "public_url": "https://broker.example.com", "console_sso": {
            "issuer": ISSUER, "client_id": "console", "client_secret_env": "SSO_SECRET"}}})
    clock = Clock()
    sso = SingleSignOn(config, issuer_with(lambda request: httpx.Response(404), clock), StateSeal(os.urandom(32), clock),
                       clock)
    if approver is None:
        with pytest.raises(NotAnApprover):
            sso.approver_named_by(claims)
    else:
        assert sso.approver_named_by(claims) == approver


def test_a_failing_provider_is_asked_once_per_backoff_however_many_visitors_come() -> None:
    """Anonymous visitors of /sso/start must not each start a fetch from a provider that fails:
    thirty at once (and thirty more) cost one fetch until the backoff has passed."""
    import threading

    from cloud_broker.web.issuer import FAILURE_BACKOFF

    fetched: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        fetched.append(request.url.path)
        return httpx.Response(503)

    clock = Clock()
    issuer = issuer_with(handler, clock)
    refusals: list[str] = []

    def visit() -> None:
        try:
            issuer.metadata()
        except IssuerUnavailable as refused:
            refusals.append(refused.reason)

    for _ in range(2):
        visitors = [threading.Thread(target=visit) for _ in range(30)]
        for visitor in visitors:
            visitor.start()
        for visitor in visitors:
            visitor.join(30)
    assert len(refusals) == 60 and fetched == ["/.well-known/openid-configuration"]
    clock.offset += FAILURE_BACKOFF + timedelta(seconds=1)
    visit()
    assert len(fetched) == 2
