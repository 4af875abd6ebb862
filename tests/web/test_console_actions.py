"""Approve (narrowed), deny, comment and revoke through the console's forms, and every refusal:
missing or foreign CSRF token, foreign origin, non-approvers, self-approval, bad narrowing."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from markupsafe import escape

from cloud_broker.domain.grants import GrantStatus
from cloud_broker.service.ports import Delivery
from tests.web.conftest import BOB_CHAT_ID, ConsoleUnderTest

pytestmark = pytest.mark.both_stores

REPORTS = "arn:aws:s3:::reports/*"


def _approve_form(csrf: str, actions: tuple[str, ...] = ("s3:PutObject", "s3:GetObject"),
                  resources: tuple[str, ...] = (REPORTS,), ttl: str = "900", **extra: str) -> dict[str, Any]:
    return {"csrf": csrf, "action": list(actions), "resource": list(resources), "ttl_seconds": ttl, **extra}


def _post(ct: ConsoleUnderTest, grant_id: str, action: str, data: dict[str, Any], client: Any = None,
          **headers: str) -> Any:
    return (client or ct.client).post(f"/console/grants/{grant_id}/{action}", data=data, headers=headers,
                                      follow_redirects=False)


def test_an_approval_narrowed_in_the_form_grants_only_what_was_kept(ct: ConsoleUnderTest) -> None:
    grant_id = ct.pending_grant()
    csrf = ct.sign_in("alice")
    reply = _post(ct, grant_id, "approve", _approve_form(csrf, actions=("s3:PutObject",), ttl="600",
                                                          comment="only the upload"))
    assert reply.status_code == 303
    assert reply.headers["location"] == f"/console/grants/{grant_id}?flash=approve-active"
    grant = ct.grant(grant_id)
    assert grant.status is GrantStatus.ACTIVE and grant.approver == "alice"
    assert grant.scope["actions"] == ("s3:PutObject",) and grant.ttl == timedelta(seconds=600)
    assert grant.requested is not None and grant.requested["actions"] == ["s3:PutObject", "s3:GetObject"]
    page = ct.client.get(reply.headers["location"]).text
    assert "Approved: credentials were issued to the agent." in page
    assert "grant.approved" in page and "only the upload" in page and "narrowed to 1 action(s)" in page


@pytest.mark.parametrize("token", [None, "", "not-the-token"])
def test_a_post_without_the_sessions_csrf_token_changes_nothing(ct: ConsoleUnderTest, token: str | None) -> None:
    grant_id = ct.pending_grant()
    ct.sign_in("alice")
    before = ct.audit_events(grant_id)
    form = _approve_form("x")
    form.pop("csrf") if token is None else form.update(csrf=token)
    for action, data in (("approve", form), ("deny", {**form, "reason": "no"}), ("comment", {**form, "text": "hi"})):
        reply = _post(ct, grant_id, action, data)
        assert reply.status_code == 403 and "CSRF_REFUSED" in reply.text
    assert ct.grant(grant_id).status is GrantStatus.PENDING and ct.audit_events(grant_id) == before


@pytest.mark.parametrize("headers", [
    {"Origin": "http://evil.example"},
    {"Origin": "http://testserver.evil.example"},
    {"Origin": "null"},
    {"Origin": "null", "Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
    {"Origin": "http://testserver", "Sec-Fetch-Site": "cross-site"},
])
def test_a_cross_origin_post_is_refused_even_with_the_right_token(ct: ConsoleUnderTest, headers: dict[str, str]) -> None:
    grant_id = ct.pending_grant()
    csrf = ct.sign_in("alice")
    before = ct.audit_events(grant_id)
    reply = _post(ct, grant_id, "approve", _approve_form(csrf), **headers)
    assert reply.status_code == 403 and "CROSS_ORIGIN" in reply.text
    assert ct.grant(grant_id).status is GrantStatus.PENDING and ct.audit_events(grant_id) == before


@pytest.mark.parametrize("headers", [
    {"Origin": "http://testserver"},
    {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"},
    {"Origin": "null", "Sec-Fetch-Site": "same-origin"},  # what Chromium sends under no-referrer
])
def test_the_consoles_own_origin_is_accepted(ct: ConsoleUnderTest, headers: dict[str, str]) -> None:
    grant_id = ct.pending_grant()
    csrf = ct.sign_in("alice")
    assert _post(ct, grant_id, "comment", {"csrf": csrf, "text": "looks fine"}, **headers).status_code == 303


def test_a_signed_in_non_approver_gets_403_and_changes_nothing(ct: ConsoleUnderTest) -> None:
    grant_id = ct.pending_grant(reason="secret-project-details")
    carol = ct.new_client()
    csrf = ct.sign_in("carol", carol)
    page = carol.get(f"/console/grants/{grant_id}")
    assert page.status_code == 403 and "secret-project-details" not in page.text
    before = ct.audit_events(grant_id)
    for action, data in (("approve", _approve_form(csrf)), ("deny", {"csrf": csrf, "reason": "no"}),
                         ("comment", {"csrf": csrf, "text": "hi"}), ("revoke", {"csrf": csrf, "reason": "x"})):
        reply = _post(ct, grant_id, action, data, client=carol)
        assert reply.status_code == 403 and "NOT_AN_APPROVER" in reply.text
        assert "secret-project-details" not in reply.text
    assert ct.grant(grant_id).status is GrantStatus.PENDING and ct.audit_events(grant_id) == before


@pytest.mark.parametrize(("form", "message"), [
    ({"actions": ()}, "must keep at least one of the requested actions"),
    ({"resources": ()}, "must keep at least one of the requested resources"),
    ({"actions": ("s3:PutObject", "s3:DeleteBucket")}, "not requested: s3:DeleteBucket"),
    ({"resources": ("arn:aws:s3:::finance/*",)}, "not requested: arn:aws:s3:::finance/*"),
    ({"ttl": "901"}, "must be between 300 s and the requested 900 s"),
    ({"ttl": "60"}, "must be between 300 s and the requested 900 s"),
    ({"ttl": "ten minutes"}, "the TTL must be a whole number of seconds"),
])
def test_an_invalid_narrowing_is_a_400_with_the_reason(ct: ConsoleUnderTest, form: dict[str, Any], message: str) -> None:
    grant_id = ct.pending_grant()
    csrf = ct.sign_in("alice")
    reply = _post(ct, grant_id, "approve", _approve_form(csrf, **form))
    assert reply.status_code == 400
    assert str(escape(message)) in reply.text
    assert ct.grant(grant_id).status is GrantStatus.PENDING


def test_deny_needs_a_reason_and_a_resolved_grant_is_a_409(ct: ConsoleUnderTest) -> None:
    grant_id = ct.pending_grant()
    csrf = ct.sign_in("alice")
    blank = _post(ct, grant_id, "deny", {"csrf": csrf, "reason": "   "})
    assert blank.status_code == 400 and ct.grant(grant_id).status is GrantStatus.PENDING
    denied = _post(ct, grant_id, "deny", {"csrf": csrf, "reason": "use the staging bucket"})
    assert denied.status_code == 303 and denied.headers["location"].endswith("?flash=denied")
    grant = ct.grant(grant_id)
    assert grant.status is GrantStatus.DENIED and grant.denial_reason == "use the staging bucket"
    late = _post(ct, grant_id, "approve", _approve_form(csrf))
    assert late.status_code == 409 and "ALREADY_RESOLVED" in late.text
    assert "You cannot approve: this request is denied" in late.text


def test_an_approver_cannot_approve_what_their_own_message_set_off(ct: ConsoleUnderTest) -> None:
    grant_id = ct.pending_grant(turn_initiator={"channel": "slack", "sender_id": BOB_CHAT_ID})
    bob = ct.new_client()
    csrf = ct.sign_in("bob", bob)
    page = bob.get(f"/console/grants/{grant_id}").text
    assert "your own chat message set off this request" in page and "/approve" not in page
    reply = _post(ct, grant_id, "approve", _approve_form(csrf), client=bob)
    assert reply.status_code == 403 and "SELF_APPROVAL" in reply.text
    assert ct.grant(grant_id).status is GrantStatus.PENDING
    assert _post(ct, grant_id, "approve", _approve_form(ct.sign_in("alice"))).status_code == 303
    assert ct.grant(grant_id).status is GrantStatus.ACTIVE


def test_a_two_person_request_needs_two_distinct_approvers(ct: ConsoleUnderTest) -> None:
    actions = ("s3:DeleteObject",)
    grant_id = ct.pending_grant(actions=list(actions))
    csrf = ct.sign_in("alice")
    first = _post(ct, grant_id, "approve", _approve_form(csrf, actions=actions))
    assert first.headers["location"].endswith("?flash=approve-pending")
    page = ct.client.get(first.headers["location"]).text
    assert "two-person-deletes" in page and "(1 / 2)" in page and "you already approved" in page
    again = _post(ct, grant_id, "approve", _approve_form(csrf, actions=actions))
    assert again.status_code == 409 and "ALREADY_APPROVED" in again.text
    bob = ct.new_client()
    second = _post(ct, grant_id, "approve", _approve_form(ct.sign_in("bob", bob), actions=actions), client=bob)
    assert second.headers["location"].endswith("?flash=approve-active")
    assert ct.grant(grant_id).approvals == ("alice", "bob")


def test_revoke_ends_an_active_grant_and_is_refused_for_a_pending_one(ct: ConsoleUnderTest) -> None:
    grant_id = ct.pending_grant()
    csrf = ct.sign_in("alice")
    early = _post(ct, grant_id, "revoke", {"csrf": csrf, "reason": "not yet"})
    assert early.status_code == 409 and "GRANT_NOT_ACTIVE" in early.text
    _post(ct, grant_id, "approve", _approve_form(csrf))
    assert "Revoke now" in ct.client.get(f"/console/grants/{grant_id}").text
    assert _post(ct, grant_id, "revoke", {"csrf": csrf, "reason": ""}).status_code == 400
    reply = _post(ct, grant_id, "revoke", {"csrf": csrf, "reason": "job finished early"})
    assert reply.status_code == 303 and reply.headers["location"].endswith("?flash=revoked")
    assert ct.grant(grant_id).status is GrantStatus.REVOKED
    with ct.broker.deps.store.unit_of_work() as uow:
        assert uow.find_secret(grant_id) is None
    page = ct.client.get(f"/console/grants/{grant_id}").text
    assert "grant.revoked" in page and "job finished early" in page and "Revoke now" not in page


def _words(html: str) -> str:
    """The page's text with tags dropped and whitespace collapsed, as a reader sees it."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_revoking_says_plainly_what_happens_to_credentials_already_read(ct: ConsoleUnderTest) -> None:
    grant_id = ct.pending_grant()
    csrf = ct.sign_in("alice")
    _post(ct, grant_id, "approve", _approve_form(csrf))
    expires_at = ct.grant(grant_id).expires_at
    assert expires_at is not None
    until = expires_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    form = _words(ct.client.get(f"/console/grants/{grant_id}").text)
    effect = ("AWS refuses copies already read as soon as the broker has written a Deny for this session on the role; "
              f"should IAM be unreachable, the session policy still ends them at {until}.")
    assert f"Revoking stops the broker handing these credentials out. {effect}" in form
    reply = _post(ct, grant_id, "revoke", {"csrf": csrf, "reason": "job finished early"})
    banner = _words(ct.client.get(reply.headers["location"]).text)
    assert f"Revoked: the broker no longer hands these credentials out. {effect}" in banner
    assert "The grant was revoked." not in banner


def test_comments_land_in_the_audit_trail_and_render_inert(ct: ConsoleUnderTest) -> None:
    grant_id = ct.pending_grant()
    csrf = ct.sign_in("bob")
    text = '<b onmouseover="alert(1)">looks "fine"</b>'
    assert _post(ct, grant_id, "comment", {"csrf": csrf, "text": text}).status_code == 303
    assert ct.audit_events(grant_id)[-1] == "grant.comment"
    page = ct.client.get(f"/console/grants/{grant_id}").text
    assert str(escape(text)) in page and text not in page


def test_agent_supplied_text_is_escaped_everywhere_it_appears(ct: ConsoleUnderTest) -> None:
    evil = '<script>alert(1)</script>"\'><img src=x onerror=alert(2)>'
    grant_id = ct.pending_grant(reason=evil, task_id=evil[:200],
                                source_context={"channel_type": "slack", "channel_id": evil, "thread_ts": evil})
    ct.sign_in("alice")
    page = ct.client.get(f"/console/grants/{grant_id}").text
    assert "<script" not in page and "<img" not in page
    assert page.count(str(escape(evil))) >= 3


def test_unknown_and_malformed_grant_ids_are_404(ct: ConsoleUnderTest) -> None:
    csrf = ct.sign_in("alice")
    for grant_id in ("00000000-0000-4000-8000-000000000000", "not-a-uuid", "%3Cscript%3E"):
        assert ct.client.get(f"/console/grants/{grant_id}").status_code == 404
        assert _post(ct, grant_id, "comment", {"csrf": csrf, "text": "x"}).status_code == 404


def test_deliveries_show_their_outcome_but_not_the_secret_in_a_webhook_url(ct: ConsoleUnderTest) -> None:
    grant_id = ct.pending_grant()
    now = ct.clock()
    secret_path = "https://hooks.example.com/services/T000/B000/XXXXsecretXXXX?token=abc"
    with ct.broker.deps.store.unit_of_work() as uow:
        for kind, target, status, attempts, error in (
            ("webhook", secret_path, "failed", 5, "HTTP 500 from receiver"),
            ("slack", "C0APPROVALS", "sent", 1, None),
        ):
            uow.insert_delivery(Delivery(grant_id=grant_id, event_seq=1, kind=kind, target=target, status=status,
                                         attempts=attempts, payload={"signature": "never-shown"}, created_at=now,
                                         updated_at=now, last_error=error))
    ct.sign_in("alice")
    page = ct.client.get(f"/console/grants/{grant_id}").text
    deliveries = page[page.index("<h2>Deliveries</h2>"):]
    for shown in ("webhook", "https://hooks.example.com/…", "failed", ">5<", "HTTP 500 from receiver",
                  "slack", "C0APPROVALS", "sent"):
        assert shown in deliveries
    assert "XXXXsecretXXXX" not in page and "token=abc" not in page and "never-shown" not in page


def test_templates_never_mark_data_safe() -> None:
    """Autoescaping is the whole defence against agent-written text: nothing may switch it off."""
    from cloud_broker.web import render

    for template in Path(render.TEMPLATES).glob("*.html"):
        source = template.read_text()
        assert not re.search(r"\|\s*safe\b|autoescape\s+false|Markup", source), template.name
    for module in Path(render.__file__).parent.glob("*.py"):
        assert "Markup(" not in module.read_text() and "autoescape=False" not in module.read_text(), module.name
