"""Single sign-on in headless Chromium: the console on a real uvicorn server, a real OpenID
provider process (``oidc_provider.py``), and a person clicking through both.

Only 127.0.0.1 is reachable from the browser: the provider's page asks a CDN for its style
sheet, and that request is refused rather than sent.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from playwright.sync_api import Page, Route, expect

from cloud_broker.domain.grants import GrantStatus
from cloud_broker.web.sessions import COOKIE
from cloud_broker.web.sso_state import STATE_COOKIE
from tests.web.conftest import ConsoleUnderTest, console_under_test, free_socket, serving
from tests.web.oidc_provider import ALICE_EMAIL, oidc_provider

CLIENT_ID = "cloud-broker-console"
SECRET_ENV = "CONSOLE_SSO_CLIENT_SECRET"


@dataclass
class SsoConsole:
    url: str
    ct: ConsoleUnderTest
    client_secret: str
    db_path: Path


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with oidc_provider(tmp_path_factory.mktemp("oidc") / "provider.log") as issuer:
        yield issuer


@pytest.fixture
def sso(emulator: Any, tmp_path: Path, provider: str) -> Iterator[SsoConsole]:
    """The console with single sign-on through ``provider``; alice's sso_id is her e-mail address."""
    sock = free_socket()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    client_secret = "sso-client-" + secrets.token_hex(16)

    def with_sso(data: dict[str, Any]) -> None:
        data["broker"] = {"public_url": url, "console_sso": {
            "issuer": provider, "client_id": CLIENT_ID, "client_secret_env": SECRET_ENV, "approver_claim": "email"}}
        data["approvers"][0]["sso_id"] = ALICE_EMAIL

    ct = console_under_test(emulator, tmp_path, with_sso, {SECRET_ENV: client_secret})
    with serving(ct.app, sock) as served:
        assert served == url
        yield SsoConsole(url=url, ct=ct, client_secret=client_secret, db_path=tmp_path / "broker.db")
    ct.client.close()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    opened = browser.new_context()
    opened.route("**/*", _local_only)
    yield opened
    opened.close()


@pytest.fixture
def page(context: Any) -> Page:
    return context.new_page()  # type: ignore[no-any-return]


@pytest.fixture
def console_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="cloud_broker")
    return caplog


def _local_only(route: Route) -> None:
    if urlsplit(route.request.url).hostname == "127.0.0.1":
        route.continue_()
    else:
        route.abort()


def start_sign_in(page: Page, sso: SsoConsole) -> None:
    """From the console's sign-in page to the provider's authorization page."""
    page.goto(f"{sso.url}/console/login")
    page.get_by_role("link", name="Sign in with single sign-on").click()
    expect(page.get_by_role("heading", name="Authorize Client")).to_be_visible()


def authorize_as(page: Page, subject: str) -> None:
    page.fill("input[name=sub]", subject)
    page.get_by_role("button", name="Authorize").click()


def signed_in_cookies(page: Page) -> list[Any]:
    return [c for c in page.context.cookies() if c["name"] == COOKIE]


def test_an_approver_signs_in_by_single_sign_on_and_approves_a_grant(
    sso: SsoConsole, page: Page, console_log: pytest.LogCaptureFixture,
) -> None:
    grant_id = sso.ct.pending_grant()
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url))
    start_sign_in(page, sso)
    authorize_as(page, "alice-sso")
    expect(page.locator("header .who")).to_contain_text("alice")
    expect(page).to_have_title("Pending requests · cloud-broker")

    page.locator(f"a[href='/console/grants/{grant_id}']").click()
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("status")).to_have_text("Approved: credentials were issued to the agent.")
    expect(page.locator("table.trail tr", has_text="grant.approved")).to_contain_text("approver:alice")
    assert sso.ct.grant(grant_id).status is GrantStatus.ACTIVE

    (session,) = signed_in_cookies(page)
    assert session["httpOnly"] and session["sameSite"] == "Strict" and session["path"] == "/console"
    assert not [c for c in page.context.cookies() if c["name"] == STATE_COOKIE]
    authorize = parse_qs(urlsplit(next(u for u in seen if "/oauth2/authorize" in u)).query)
    assert authorize["code_challenge_method"] == ["S256"] and len(authorize["code_challenge"][0]) == 43
    assert authorize["redirect_uri"] == [f"{sso.url}/console/sso/callback"] and "code_verifier" not in authorize
    assert authorize["state"][0] and authorize["nonce"][0] and authorize["state"] != authorize["nonce"]
    code = parse_qs(urlsplit(next(u for u in seen if "/sso/callback" in u)).query)["code"][0]
    assert "console sign-in of alice by single sign-on from 127.0.0.1" in console_log.text
    for secret in (code, sso.client_secret):
        assert secret not in console_log.text and secret not in page.content()


@pytest.mark.parametrize(("subject", "status", "why"), [
    ("alice-for-another-client", 401, "the ID token's audience (aud) is not the one expected"),
    ("alice-with-a-stale-nonce", 401, "the ID token's nonce is not the one expected"),
    ("mallory", 403, "the email the provider signed in is not an approver of this broker"),
    ("alice-unverified", 403, "the provider did not say it verified this e-mail address (email_verified), so it "
                              "names no approver; map approvers by another claim (e.g. sub) for this provider"),
])
def test_a_token_that_names_no_approver_of_this_console_signs_nobody_in(
    sso: SsoConsole, page: Page, console_log: pytest.LogCaptureFixture, subject: str, status: int, why: str,
) -> None:
    start_sign_in(page, sso)
    with page.expect_response(lambda r: "/sso/callback" in r.url) as answered:
        authorize_as(page, subject)
    assert answered.value.status == status
    expect(page.get_by_role("alert")).to_have_text(f"Single sign-on refused: {why}. Nothing was signed in.")
    assert_nobody_signed_in(page, sso, console_log)


def test_an_answer_without_its_state_is_refused(
    sso: SsoConsole, page: Page, console_log: pytest.LogCaptureFixture,
) -> None:
    page.route(lambda url: "/oauth2/authorize" in url, _drop_state_from_the_redirect)
    start_sign_in(page, sso)
    with page.expect_response(lambda r: "/sso/callback" in r.url) as answered:
        authorize_as(page, "alice-sso")
    assert answered.value.status == 401 and "state=" not in answered.value.url
    expect(page.get_by_role("alert")).to_contain_text("does not belong to the sign-in this browser started")
    assert_nobody_signed_in(page, sso, console_log)


def test_an_answer_to_an_older_sign_in_of_the_same_browser_is_refused(
    sso: SsoConsole, page: Page, context: Any, console_log: pytest.LogCaptureFixture,
) -> None:
    start_sign_in(page, sso)
    newer = context.new_page()
    start_sign_in(newer, sso)  # its sealed state replaces the first one's in the shared cookie jar
    with page.expect_response(lambda r: "/sso/callback" in r.url) as answered:
        authorize_as(page, "alice-sso")
    assert answered.value.status == 401
    expect(page.get_by_role("alert")).to_contain_text("does not belong to the sign-in this browser started")
    assert_nobody_signed_in(page, sso, console_log)


def assert_nobody_signed_in(page: Page, sso: SsoConsole, console_log: pytest.LogCaptureFixture) -> None:
    assert signed_in_cookies(page) == []
    assert session_rows(sso) == 0
    page.goto(f"{sso.url}/console/")
    expect(page).to_have_url(f"{sso.url}/console/login?next=/")
    assert "console single sign-on refused from 127.0.0.1" in console_log.text
    assert "console sign-in of" not in console_log.text
    assert sso.client_secret not in console_log.text


def session_rows(sso: SsoConsole) -> int:
    """Console sessions in the store, counted in the database file itself."""
    import sqlite3

    with sqlite3.connect(sso.db_path) as db:
        return int(db.execute("select count(*) from console_sessions").fetchone()[0])


def _drop_state_from_the_redirect(route: Route) -> None:
    """The provider's redirect back, with ``state`` taken out on the way (redirect hops themselves
    cannot be routed, so the provider's answer is rewritten)."""
    if route.request.method != "POST":
        route.continue_()
        return
    answer = route.fetch(max_redirects=0)
    location = answer.headers["location"]
    assert "state=" in location and "/sso/callback" in location
    route.fulfill(response=answer, headers={**answer.headers, "location": _without_state(location)})


def _without_state(url: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, values in parse_qs(parts.query).items() for v in values if k != "state"]
    return urlunsplit(parts._replace(query=urlencode(query)))


def test_the_provider_under_test_enforces_pkce(provider: str) -> None:
    """The happy path above proves the console's verifier only because the provider checks it."""

    verifier = secrets.token_urlsafe(48)
    redirect = "http://127.0.0.1:1/console/sso/callback"
    query = {"client_id": CLIENT_ID, "redirect_uri": redirect, "response_type": "code", "scope": "openid email",
             "state": "s", "nonce": "n"}
    with httpx.Client(base_url=provider) as client:
        refused = client.post("/oauth2/authorize", params=query, data={"sub": "alice-sso"}).headers["location"]
        assert "error=invalid_request" in refused and "PKCE" in refused and "code=" not in refused
        pkce = {**query, "code_challenge": create_s256_code_challenge(verifier), "code_challenge_method": "S256"}
        for sent, expected in ((secrets.token_urlsafe(48), 400), (verifier, 200)):
            issued = client.post("/oauth2/authorize", params=pkce, data={"sub": "alice-sso"})
            code = parse_qs(urlsplit(issued.headers["location"]).query)["code"][0]
            token = client.post("/oauth2/token", auth=(CLIENT_ID, "any"), data={
                "grant_type": "authorization_code", "code": code, "redirect_uri": redirect, "code_verifier": sent})
            assert token.status_code == expected, token.text
