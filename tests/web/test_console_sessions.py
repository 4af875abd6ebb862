"""Console sign-in, the session cookie, sign-out, expiry, throttling and the response headers."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import timedelta

from fastapi.testclient import TestClient

from cloud_broker.api.app import create_app
from cloud_broker.config.models import BrokerSettings
from cloud_broker.service.broker import Broker
from cloud_broker.web import install_console
from cloud_broker.web.sessions import COOKIE, FAILURES_ALLOWED
from tests.web.conftest import PASSWORDS, ConsoleUnderTest

SESSION_SECONDS = 8 * 3600


def _set_cookie(reply: object) -> str:
    headers = reply.headers  # type: ignore[attr-defined]
    cookies = [v for k, v in headers.multi_items() if k == "set-cookie" and v.startswith(f"{COOKIE}=")]
    assert len(cookies) == 1, headers
    return str(cookies[0])


def _login(client: TestClient, name: str, password: str, **extra: str) -> object:
    return client.post("/console/login", data={"name": name, "password": password, **extra}, follow_redirects=False)


def _token(cookie: str) -> str:
    return cookie.split(";", 1)[0].split("=", 1)[1].strip('"')


def test_sign_in_sets_a_hardened_cookie_and_stores_only_its_hash(ct: ConsoleUnderTest) -> None:
    reply = _login(ct.client, "alice", PASSWORDS["alice"])
    assert reply.status_code == 303  # type: ignore[attr-defined]
    assert reply.headers["location"] == "/console/"  # type: ignore[attr-defined]
    cookie = _set_cookie(reply)
    attributes = {part.strip().split("=", 1)[0].lower(): part.strip() for part in cookie.split(";")[1:]}
    assert "httponly" in attributes
    assert attributes["samesite"].lower() == "samesite=strict"
    assert attributes["path"] == "Path=/console"
    assert attributes["max-age"] == f"Max-Age={SESSION_SECONDS}"
    assert "secure" not in attributes  # plain http in this test
    token = _token(cookie)
    assert len(token) >= 43  # 32 random bytes, base64url
    with ct.broker.deps.store.unit_of_work() as uow:
        stored = uow.find_console_session(hashlib.sha256(token.encode()).hexdigest())
        assert uow.find_console_session(token) is None
    assert stored is not None and stored.approver == "alice"
    assert stored.session_hash != token and token not in stored.csrf_token
    assert stored.expires_at - stored.created_at == timedelta(seconds=SESSION_SECONDS)
    assert ct.client.get("/console/").status_code == 200


def test_cookie_is_secure_when_the_console_is_reached_over_https(ct: ConsoleUnderTest) -> None:
    reply = _login(ct.new_client(base_url="https://testserver"), "alice", PASSWORDS["alice"])
    assert reply.status_code == 303  # type: ignore[attr-defined]
    assert "secure" in [p.strip().lower() for p in _set_cookie(reply).split(";")]


def test_https_public_url_makes_the_cookie_secure_and_its_origin_trusted(ct: ConsoleUnderTest) -> None:
    deps = ct.broker.deps
    config = deps.config.model_copy(update={"broker": BrokerSettings(public_url="https://broker.example.com")})
    broker = Broker(dataclasses.replace(deps, config=config))
    app = create_app(broker, ct.tokens)
    install_console(app, broker)
    client = TestClient(app)
    reply = _login(client, "alice", PASSWORDS["alice"])
    assert "secure" in [p.strip().lower() for p in _set_cookie(reply).split(";")]
    behind_proxy = client.post("/console/login", data={"name": "bob", "password": PASSWORDS["bob"]},
                               headers={"Origin": "https://broker.example.com"}, follow_redirects=False)
    assert behind_proxy.status_code == 303


def test_wrong_password_unknown_name_and_passwordless_approver_get_one_generic_answer(ct: ConsoleUnderTest) -> None:
    answers = [_login(ct.client, name, password) for name, password in
               (("alice", "not-her-password"), ("mallory", PASSWORDS["alice"]), ("dave", "anything-at-all"))]
    for reply in answers:
        assert reply.status_code == 401  # type: ignore[attr-defined]
        assert "Sign-in failed: unknown name or wrong password." in reply.text  # type: ignore[attr-defined]
        assert "set-cookie" not in reply.headers  # type: ignore[attr-defined]
    assert ct.client.get("/console/", follow_redirects=False).status_code == 303


def test_repeated_failures_are_throttled_per_name_and_address(ct: ConsoleUnderTest) -> None:
    for _ in range(FAILURES_ALLOWED):
        assert _login(ct.client, "alice", "wrong-password-here").status_code == 401  # type: ignore[attr-defined]
    locked = _login(ct.client, "alice", PASSWORDS["alice"])
    assert locked.status_code == 429  # type: ignore[attr-defined]
    assert "set-cookie" not in locked.headers  # type: ignore[attr-defined]
    assert _login(ct.client, "bob", PASSWORDS["bob"]).status_code == 303  # type: ignore[attr-defined]
    ct.clock.offset += timedelta(minutes=5, seconds=1)
    assert _login(ct.client, "alice", PASSWORDS["alice"]).status_code == 303  # type: ignore[attr-defined]


def test_sign_out_deletes_the_session_and_needs_the_csrf_token(ct: ConsoleUnderTest) -> None:
    csrf = ct.sign_in("alice")
    token = ct.client.cookies.get(COOKIE)
    assert token
    refused = ct.client.post("/console/logout", data={}, follow_redirects=False)
    assert refused.status_code == 403
    assert ct.client.get("/console/").status_code == 200
    out = ct.client.post("/console/logout", data={"csrf": csrf}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/console/login?flash=signed-out"
    with ct.broker.deps.store.unit_of_work() as uow:
        assert uow.find_console_session(hashlib.sha256(token.encode()).hexdigest()) is None
    replay = ct.new_client()
    replay.cookies.set(COOKIE, token, path="/console")
    assert replay.get("/console/", follow_redirects=False).headers["location"].startswith("/console/login")


def test_an_expired_session_sends_the_approver_back_to_sign_in(ct: ConsoleUnderTest) -> None:
    ct.sign_in("alice")
    ct.clock.offset += timedelta(seconds=SESSION_SECONDS + 1)
    reply = ct.client.get("/console/history", follow_redirects=False)
    assert reply.status_code == 303
    assert reply.headers["location"] == "/console/login?next=/history"


def test_unauthenticated_pages_redirect_to_sign_in_and_posts_are_refused(ct: ConsoleUnderTest) -> None:
    grant_id = ct.pending_grant()
    page = ct.client.get(f"/console/grants/{grant_id}", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == f"/console/login?next=/grants/{grant_id}"
    assert ct.client.get("/console", follow_redirects=True).url.path == "/console/login"
    before = ct.audit_events(grant_id)
    for action in ("approve", "deny", "comment", "revoke"):
        reply = ct.client.post(f"/console/grants/{grant_id}/{action}", data={"reason": "x", "text": "x"},
                               follow_redirects=False)
        assert reply.status_code == 403
    assert ct.grant(grant_id).status.value == "pending" and ct.audit_events(grant_id) == before


def test_sign_in_returns_to_the_page_asked_for_but_never_off_the_console(ct: ConsoleUnderTest) -> None:
    grant_id = ct.pending_grant()
    back = _login(ct.new_client(), "alice", PASSWORDS["alice"], next=f"/grants/{grant_id}")
    assert back.headers["location"] == f"/console/grants/{grant_id}"  # type: ignore[attr-defined]
    for hostile in ("//evil.example/x", "https://evil.example/", "/\\evil.example", "/grants/../../x?y"):
        reply = _login(ct.new_client(), "alice", PASSWORDS["alice"], next=hostile)
        assert reply.headers["location"] == "/console/"  # type: ignore[attr-defined]


def test_a_cross_site_sign_in_is_refused(ct: ConsoleUnderTest) -> None:
    reply = ct.client.post("/console/login", data={"name": "alice", "password": PASSWORDS["alice"]},
                           headers={"Origin": "http://evil.example"}, follow_redirects=False)
    assert reply.status_code == 403
    assert "set-cookie" not in reply.headers


def test_every_console_response_carries_the_security_headers(ct: ConsoleUnderTest) -> None:
    grant_id = ct.pending_grant()
    responses = [ct.client.get("/console/login"), ct.client.get("/console/static/console.css")]
    ct.sign_in("alice")
    responses += [ct.client.get("/console/"), ct.client.get(f"/console/grants/{grant_id}"),
                  ct.client.get("/console/history"), ct.client.get("/console/no-such-page")]
    assert [r.status_code for r in responses] == [200, 200, 200, 200, 200, 404]
    for reply in responses:
        assert reply.headers["content-security-policy"] == (
            "default-src 'self'; script-src 'none'; frame-ancestors 'none'; form-action 'self'")
        assert reply.headers["x-frame-options"] == "DENY"
        assert reply.headers["referrer-policy"] == "no-referrer"
        assert reply.headers["cache-control"] == "no-store"
    assert "<script" not in "".join(r.text for r in responses)
