"""The console in headless Chromium against a real uvicorn server: what an approver does with
a mouse, and what a hostile request or page cannot do.

Chromium is Debian's (/usr/bin/chromium); a machine without it fails these tests loudly.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from cloud_broker.domain.grants import GrantStatus
from tests.web.conftest import PASSWORDS, LiveServer

XSS = """<script>document.title='pwned'</script><img src=x onerror="document.title='pwned'">"""


def sign_in(page: Page, live: LiveServer, name: str, next_path: str | None = None) -> None:
    page.goto(f"{live.url}/console/login" + (f"?next={next_path}" if next_path else ""))
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORDS[name])
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("header .who")).to_contain_text(name)


def test_sign_in_and_approve_a_narrowed_scope(live: LiveServer, page: Page) -> None:
    grant_id = live.ct.pending_grant()
    sign_in(page, live, "alice")
    expect(page).to_have_title("Pending requests · cloud-broker")
    page.locator(f"a[href='/console/grants/{grant_id}']").click()
    expect(page.locator("dd.reason")).to_have_text("Upload the regenerated daily report")
    page.uncheck("input[name=action][value='s3:GetObject']")
    page.fill("input[name=ttl_seconds]", "600")
    page.fill("textarea[name=comment]", "upload only, no reads")
    page.get_by_role("button", name="Approve").click()
    expect(page).to_have_url(f"{live.url}/console/grants/{grant_id}?flash=approve-active")
    expect(page.get_by_role("status")).to_have_text("Approved: credentials were issued to the agent.")
    expect(page.locator("h1 .badge")).to_have_text("active")
    trail = page.locator("table.trail")
    for text in ("grant.requested", "grant.approved", "approver:alice", "upload only, no reads",
                 "narrowed to 1 action(s), 1 resource(s), TTL 600 s", "grant.minted"):
        expect(trail).to_contain_text(text)
    grant = live.ct.grant(grant_id)
    assert grant.status is GrantStatus.ACTIVE and grant.scope["actions"] == ("s3:PutObject",)
    assert int(grant.ttl.total_seconds()) == 600


def test_deny_with_a_reason_and_see_it_in_the_trail(live: LiveServer, page: Page) -> None:
    grant_id = live.ct.pending_grant()
    sign_in(page, live, "bob", next_path=f"/grants/{grant_id}")
    expect(page).to_have_url(f"{live.url}/console/grants/{grant_id}")
    page.fill("form[action$='/deny'] textarea[name=reason]", "write to the staging bucket instead")
    page.get_by_role("button", name="Deny").click()
    expect(page.get_by_role("status")).to_have_text("The request was denied.")
    expect(page.locator("h1 .badge")).to_have_text("denied")
    row = page.locator("table.trail tr", has_text="grant.denied")
    expect(row).to_contain_text("approver:bob")
    expect(row).to_contain_text("write to the staging bucket instead")
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)
    assert live.ct.grant(grant_id).status is GrantStatus.DENIED


def test_a_hostile_reason_renders_as_inert_text(live: LiveServer, page: Page) -> None:
    grant_id = live.ct.pending_grant(reason=XSS, task_id=XSS)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    sign_in(page, live, "alice", next_path=f"/grants/{grant_id}")
    expect(page.locator("dd.reason")).to_have_text(XSS)
    expect(page.get_by_text(XSS).first).to_be_visible()
    assert page.title() == f"Grant {grant_id} · cloud-broker"
    assert page.locator("script").count() == 0
    assert page.locator("img").count() == 0
    assert page.evaluate("document.querySelectorAll('[onerror], [onload]').length") == 0
    assert dialogs == []


@pytest.mark.parametrize("referrer_policy", ["strict-origin-when-cross-origin", "no-referrer"])
def test_a_cross_site_form_post_is_refused_even_with_a_leaked_token(
    live: LiveServer, page: Page, attacker: Callable[[str], str], referrer_policy: str,
) -> None:
    grant_id = live.ct.pending_grant()
    sign_in(page, live, "alice", next_path=f"/grants/{grant_id}")
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    before = live.ct.audit_events(grant_id)
    attack = attacker(f"""<!doctype html><meta name="referrer" content="{referrer_policy}">
        <form id="f" method="post" action="{live.url}/console/grants/{grant_id}/approve">
          <input name="csrf" value="{csrf}"><input name="action" value="s3:PutObject">
          <input name="resource" value="arn:aws:s3:::reports/*"><input name="ttl_seconds" value="900">
        </form><script>document.getElementById('f').submit()</script>""")
    with page.expect_response(lambda r: r.url.endswith(f"/grants/{grant_id}/approve")) as answered:
        page.goto(attack)
    assert answered.value.status == 403
    expect(page.locator("body")).to_contain_text("CROSS_ORIGIN")
    assert live.ct.grant(grant_id).status is GrantStatus.PENDING
    assert live.ct.audit_events(grant_id) == before


def test_a_signed_in_non_approver_gets_403(live: LiveServer, page: Page) -> None:
    grant_id = live.ct.pending_grant(reason="quarterly numbers before release")
    sign_in(page, live, "carol")
    response = page.goto(f"{live.url}/console/grants/{grant_id}")
    assert response is not None and response.status == 403
    expect(page.locator("body")).to_contain_text("NOT_AN_APPROVER")
    expect(page.locator("body")).not_to_contain_text("quarterly numbers")
    expect(page.locator("main")).not_to_contain_text(grant_id)


def test_sign_out_ends_the_session(live: LiveServer, page: Page) -> None:
    sign_in(page, live, "alice")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_have_text("You are signed out.")
    page.goto(f"{live.url}/console/history")
    expect(page).to_have_url(f"{live.url}/console/login?next=/history")


@pytest.fixture
def attacker() -> Iterator[Callable[[str], str]]:
    """A second web server on another port of 127.0.0.1: a different origin, serving one page."""
    pages: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.get(self.path, b"")
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def serve(html: str) -> str:
        pages["/attack.html"] = html.encode()
        return f"http://127.0.0.1:{server.server_address[1]}/attack.html"

    yield serve
    server.shutdown()
    thread.join(timeout=30)
    server.server_close()
