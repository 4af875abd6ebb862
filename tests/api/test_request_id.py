"""Every answer names its request: the ``X-Request-Id`` header, the error envelope, the audit rows
written meanwhile and the access line all carry the same id; an unhandled error is a complete
500 with that id, logged by type and id only."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from cloud_broker.api.app import create_app
from cloud_broker.api.request_scope import route_template
from tests.api.conftest import BrokerUnderTest

WELL_FORMED = "req-2026.11_29-abc"
SECRET_TEXT = "the-exception-text-must-not-be-logged"


def test_the_brokers_own_id_names_the_audit_rows_and_an_inbound_id_only_the_access_line(
        bt: BrokerUnderTest, caplog: pytest.LogCaptureFixture) -> None:
    """The caller is an agent: the trail must not carry a text it chose, nor another request's id."""
    with caplog.at_level(logging.INFO, logger="cloud_broker.access"):
        reply = bt.client.post("/aws/grants", json=bt.grant_body(),
                               headers={**bt.headers(), "X-Request-Id": WELL_FORMED})
    ours = reply.headers["x-request-id"]
    assert reply.status_code == 200 and ours != WELL_FORMED and len(ours) == 32
    with bt.broker.deps.store.unit_of_work() as uow:
        rows = uow.list_audit(grant_id=reply.json()["grant_id"])
    assert [r.event for r in rows] == ["grant.requested", "grant.minted"]
    assert {r.request_id for r in rows} == {ours}
    [access] = [r.access for r in caplog.records if hasattr(r, "access") and r.access["request_id"] == ours]
    assert access["client_request_id"] == WELL_FORMED


def test_a_malformed_inbound_id_is_replaced_by_a_fresh_one(bt: BrokerUnderTest) -> None:
    for inbound in [b"x" * 65, b"has space", b"tab\tinside", b"semi;colon", "é".encode(), b""]:
        returned = bt.client.get("/healthz", headers={"X-Request-Id": inbound}).headers["x-request-id"]
        assert returned.encode() != inbound and len(returned) == 32 and returned.isalnum(), inbound


def test_each_request_without_an_id_gets_its_own(bt: BrokerUnderTest) -> None:
    ids = {bt.client.get("/healthz").headers["x-request-id"] for _ in range(3)}
    assert len(ids) == 3


def test_an_error_envelope_carries_the_request_id(bt: BrokerUnderTest) -> None:
    reply = bt.client.get("/aws/inventory", params={"agent_id": bt.agent_id}, headers={"X-Request-Id": WELL_FORMED})
    assert reply.status_code == 401
    body = reply.json()
    assert body["request_id"] == reply.headers["x-request-id"] != WELL_FORMED
    assert body["error"].startswith(body["error_code"] + ": ")


def test_a_too_large_body_is_refused_with_the_request_id(bt: BrokerUnderTest) -> None:
    reply = bt.client.post("/host/exchange", content=b"x" * (600 * 1024), headers={"X-Request-Id": WELL_FORMED})
    assert reply.status_code == 413 and reply.json()["request_id"] == reply.headers["x-request-id"]


def test_rows_written_outside_a_request_name_none(bt: BrokerUnderTest) -> None:
    grant_id = bt.client.post("/aws/grants", json=bt.grant_body(actions=["s3:PutObject"]),
                              headers=bt.headers()).json()["grant_id"]
    bt.broker.approvals.deny(grant_id, "alice", "not today")
    with bt.broker.deps.store.unit_of_work() as uow:
        rows = {r.event: r.request_id for r in uow.list_audit(grant_id=grant_id)}
    assert rows["grant.requested"] is not None and rows["grant.denied"] is None


def _raising_app(bt: BrokerUnderTest) -> TestClient:
    app = create_app(bt.broker, bt.tokens)

    @app.get("/boom/{thing}")
    def boom(thing: str) -> None:
        raise RuntimeError(SECRET_TEXT)

    return TestClient(app, raise_server_exceptions=False)


def test_an_unhandled_error_is_a_complete_500_with_the_envelope(bt: BrokerUnderTest,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    with _raising_app(bt) as client, caplog.at_level(logging.INFO):
        reply = client.get("/boom/1?token=abc", headers={"X-Request-Id": WELL_FORMED})
        again = client.get("/healthz")
    ours = reply.headers["x-request-id"]
    assert reply.status_code == 500 and again.status_code == 200
    assert reply.json() == {"error": "INTERNAL: internal broker error", "error_code": "INTERNAL", "request_id": ours}
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == [f"unhandled RuntimeError in request {ours}"]
    assert all(r.exc_info is None for r in errors)
    assert SECRET_TEXT not in caplog.text


def test_one_access_line_per_request_names_the_route_template_not_the_path(bt: BrokerUnderTest,
                                                                          caplog: pytest.LogCaptureFixture) -> None:
    with _raising_app(bt) as client, caplog.at_level(logging.INFO, logger="cloud_broker.access"):
        ours = client.get("/boom/grant-123?agent_id=agent-456", headers={"X-Request-Id": WELL_FORMED}).headers[
            "x-request-id"]
        client.get("/no/such/path/agent-789")
    lines = [r for r in caplog.records if r.name == "cloud_broker.access"]
    assert len(lines) == 2
    first, second = (r.access for r in lines)  # type: ignore[attr-defined]
    assert first == {"method": "GET", "route": "/boom/{thing}", "status": 500, "request_id": ours,
                     "client_request_id": WELL_FORMED, "client": "testclient", "duration_ms": first["duration_ms"]}
    assert second["route"] == "<unmatched>" and second["status"] == 404
    text = caplog.text
    assert "grant-123" not in text and "agent-456" not in text and "agent-789" not in text


def test_console_routes_are_named_under_their_mount() -> None:
    from starlette.routing import Mount, Route

    page = Route("/grants/{grant_id}", endpoint=lambda r: None)
    static = Mount("/static", routes=[])
    assert route_template({"route": page, "root_path": "/console"}) == "/console/grants/{grant_id}"
    assert route_template({"route": static, "root_path": "/console/static"}) == "/console/static/{path}"
    assert route_template({}) == "<unmatched>"
