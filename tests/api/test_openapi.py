"""The OpenAPI document tells the truth about the API: what it accepts, and what it answers.

Each test here pins one place where the fuzzer (``test_fuzz.py``) caught the document and the
API disagreeing. Patterns are judged with ``jsonschema_rs``, an ECMA-262 regex engine, as a
reader of the document (a generated client, a gateway, a fuzzer) judges them; the API's own
verdict is its answer to a real request.
"""

from __future__ import annotations

from typing import Any

import jsonschema_rs
import pytest

from .conftest import BrokerUnderTest

UNPROTECTED = {("post", "/host/exchange"), ("get", "/healthz"), ("get", "/readyz")}


def document(bt: BrokerUnderTest) -> dict[str, Any]:
    reply = bt.client.get("/openapi.json")
    assert reply.status_code == 200
    return reply.json()  # type: ignore[no-any-return]


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, item in doc["paths"].items() for method, op in item.items()]


def preview(bt: BrokerUnderTest, **overrides: Any) -> int:
    body = bt.grant_body(**overrides)
    body.pop("run_id")
    return bt.client.post("/aws/scope/preview", json=body, headers=bt.headers()).status_code


def test_every_refusal_the_api_gives_fits_the_documented_envelope(bt: BrokerUnderTest) -> None:
    doc = document(bt)
    refusals = [
        bt.client.post("/aws/grants", json=bt.grant_body(ttl_seconds=1), headers=bt.headers()),  # 400
        bt.client.get("/aws/inventory", params={"agent_id": bt.agent_id}),  # 401
        bt.client.get("/aws/inventory", params={"agent_id": bt.foreign_agent_id}, headers=bt.headers()),  # 403
        bt.client.get("/aws/scope", params={"agent_id": bt.agent_id, "account_id": "999999999999"},
                      headers=bt.headers()),  # 404
        bt.client.delete("/aws/grants", headers=bt.headers()),  # 405
        bt.client.post("/host/exchange", content=b"x" * (600 * 1024)),  # 413
    ]
    assert [r.status_code for r in refusals] == [400, 401, 403, 404, 405, 413]
    for method, path, op in operations(doc):
        assert "422" not in op["responses"], f"{method} {path} documents a status the API never answers"
        for status in ("4XX", "5XX"):
            envelope = jsonschema_rs.validator_for(op["responses"][status]["content"]["application/json"]["schema"])
            for reply in refusals:
                assert envelope.is_valid(reply.json()), (method, path, reply.text)


def test_the_documented_ttl_bounds_are_the_enforced_ones(bt: BrokerUnderTest) -> None:
    ttl = document(bt)["components"]["schemas"]["PreviewBody"]["properties"]["ttl_seconds"]
    number = next(branch for branch in ttl["anyOf"] if branch.get("type") == "integer")
    low, high = int(number["minimum"]), int(number["maximum"])
    assert [preview(bt, ttl_seconds=t) for t in (low - 1, low, high, high + 1)] == [400, 200, 200, 400]


@pytest.mark.parametrize("char", ["\u0085", "\ufeff", "\u00a0", "\u001c", "\u3000", "\u180e", " ", "\t"],
                         ids=lambda c: f"U+{ord(c):04X}")
def test_the_document_and_the_api_agree_on_whitespace_in_a_resource(bt: BrokerUnderTest, char: str) -> None:
    # ``\s`` differs between ECMA-262 (the document's readers) and Rust (pydantic): U+0085, U+FEFF.
    item = document(bt)["components"]["schemas"]["PreviewBody"]["properties"]["resources"]["items"]
    resource = f"arn:aws:s3:::reports/a{char}b"
    documented = jsonschema_rs.validator_for(item).is_valid(resource)
    accepted = preview(bt, resources=[resource]) == 200
    assert documented == accepted


def test_optional_query_and_header_parameters_are_not_documented_as_null(bt: BrokerUnderTest) -> None:
    # A query string or a header cannot carry a JSON null; a reader would send the text "null".
    for method, path, op in operations(document(bt)):
        for parameter in op.get("parameters", []):
            assert "null" not in str(parameter["schema"]), (method, path, parameter)


def test_the_event_stream_is_documented_as_one_frame_per_event(bt: BrokerUnderTest) -> None:
    success = document(bt)["paths"]["/aws/events"]["get"]["responses"]["200"]
    assert list(success["content"]) == ["text/event-stream"]
    frame = jsonschema_rs.validator_for(success["content"]["text/event-stream"]["itemSchema"])
    assert frame.is_valid({"id": "6", "event": "ready", "data": '{"after":6}'})
    assert not frame.is_valid({"id": "6", "data": "{}"})


def test_a_last_event_id_is_documented_as_the_api_reads_it(bt: BrokerUnderTest) -> None:
    parameters = document(bt)["paths"]["/aws/events"]["get"]["parameters"]
    header = next(p for p in parameters if p["in"] == "header")
    assert header["name"].lower() == "last-event-id"
    documented = jsonschema_rs.validator_for(header["schema"])
    assert documented.is_valid("42") and documented.is_valid("")
    assert not documented.is_valid("null") and not documented.is_valid("9" * 5000)


def test_exactly_the_routes_that_need_a_token_declare_the_bearer_scheme(bt: BrokerUnderTest) -> None:
    doc = document(bt)
    assert doc["components"]["securitySchemes"]["HostToken"] | {"description": ""} == {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": ""}
    for method, path, op in operations(doc):
        declared = op.get("security") == [{"HostToken": []}]
        assert declared == ((method, path) not in UNPROTECTED), (method, path)
        if declared and "{" not in path:
            # The declaration is not decoration: without a token the route refuses.
            reply = bt.client.request(method, path, params={"agent_id": bt.agent_id, "account_id": "123456789012"})
            assert reply.status_code == 401, (method, path, reply.text)
