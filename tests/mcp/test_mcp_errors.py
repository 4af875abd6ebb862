"""Broker failures become the contract's error texts (§3.4), always as isError tool results."""

from __future__ import annotations

import pytest
from mcp_broker_stub import Reply, StubBroker, free_port
from mcp_harness import ACCOUNT, GRANT, PRESET_TOKEN, connect

pytestmark = pytest.mark.anyio
SCOPE = {"account_id": ACCOUNT}


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (Reply(404, {"error": "NOT_FOUND: no enrolment for this account", "error_code": "NOT_FOUND", "detail": "x"}),
         "Broker error 404: NOT_FOUND: no enrolment for this account"),
        (Reply(500, text="upstream exploded"), "Broker error 500: Broker request failed: 500"),
        (Reply(409, {"error": {"code": "GRANT_RELEASED"}}), "Broker error 409: Broker request failed: 409"),
        (Reply(403, ["not", "an", "object"]), "Broker error 403: Broker request failed: 403"),
        (Reply(200, text="<html>ok</html>"), "Broker error 200: Broker returned 200 but the response body was not valid JSON"),
        (Reply(204), "Broker error 204: Broker returned 204 but the response body was not valid JSON"),
    ],
)
async def test_broker_replies_map_to_the_contract_texts(stub: StubBroker, reply: Reply, expected: str) -> None:
    stub.reply("GET", "/aws/scope", reply)
    async with connect(stub) as session:
        assert await session.call("aws_describe_scope", SCOPE) == (expected, True)


async def test_an_idempotent_release_answered_with_204_is_an_error(stub: StubBroker) -> None:
    stub.reply("POST", f"/aws/grants/{GRANT}/release", Reply(204))
    async with connect(stub) as session:
        text, is_error = await session.call("aws_release_access", {"grant_id": GRANT})
    assert is_error and text.startswith("Broker error 204: ")


async def test_network_failure_shows_the_raw_error_without_status_prefix_or_token(stub: StubBroker) -> None:
    async with connect(stub, host=f"http://127.0.0.1:{free_port()}") as session:
        text, is_error = await session.call("aws_describe_scope", SCOPE)
    assert is_error and text and not text.startswith("Broker error")
    assert PRESET_TOKEN not in text
    assert sorted(w.split(":")[0] for w in session.warnings) == ["aws_inventory_lookup_failed",
                                                                 "gcp_inventory_lookup_failed"]


async def test_a_broker_error_that_echoes_the_bearer_token_is_redacted(stub: StubBroker) -> None:
    stub.reply("GET", "/aws/scope", Reply(401, {"error": f"token {PRESET_TOKEN} is not valid"}))
    async with connect(stub) as session:
        text, _ = await session.call("aws_describe_scope", SCOPE)
    assert text == "Broker error 401: token [redacted] is not valid"


async def test_an_unknown_tool_is_an_error_result_not_a_protocol_error(stub: StubBroker) -> None:
    async with connect(stub) as session:
        text, is_error = await session.call("aws_mint_root_keys", {})
    assert is_error and "aws_mint_root_keys" in text


async def test_an_unexpected_exception_becomes_an_error_result_and_a_type_only_stderr_line(
    stub: StubBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def explode(name: str, arguments: object) -> None:
        raise RuntimeError(f"boom with {PRESET_TOKEN}")

    async with connect(stub) as session:
        monkeypatch.setattr(session.app.toolbox, "call", explode)
        text, is_error = await session.call("aws_list_accounts")
    assert is_error and "RuntimeError" in text and PRESET_TOKEN not in text
    assert session.warnings == ["internal error in aws_list_accounts: RuntimeError"]
