"""Token handling (contract §2): preset token, host-key exchange, expiry margin, single flight."""

from __future__ import annotations

import anyio
import httpx
import pytest
from mcp_broker_stub import TOKEN_PREFIX, Reply, StubBroker, asgi_app
from mcp_harness import ACCOUNT, API_KEY, PRESET_TOKEN, connect

from cloud_broker.client.broker_client import BrokerClient
from cloud_broker.client.errors import BrokerCallError
from cloud_broker.client.tokens import ExchangeTokenSource, TokenSource

pytestmark = pytest.mark.anyio
SCOPE = {"account_id": ACCOUNT}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def bearer_tokens(stub: StubBroker) -> list[str]:
    return [r.headers["authorization"].removeprefix("Bearer ") for r in stub.api_calls()]


async def test_preset_token_is_used_without_any_exchange(stub: StubBroker) -> None:
    async with connect(stub, api_key=API_KEY) as session:
        await session.call_json("aws_describe_scope", SCOPE)
    assert stub.calls("/host/exchange") == []
    assert bearer_tokens(stub) == [PRESET_TOKEN] * 3  # two boot inventories (aws, gcp) and the call


async def test_host_key_is_exchanged_once_without_authorization_and_the_token_reused(stub: StubBroker) -> None:
    async with connect(stub, token="", api_key=API_KEY) as session:
        await session.call_json("aws_describe_scope", SCOPE)
        await session.call_json("aws_poll_grant", {"grant_id": "33333333-3333-4333-8333-333333333333"})
    (exchange,) = stub.calls("/host/exchange")
    assert exchange.method == "POST"
    assert "authorization" not in exchange.headers
    assert exchange.headers["content-type"] == "application/json"
    assert exchange.json() == {"host_key": API_KEY}
    assert bearer_tokens(stub) == [f"{TOKEN_PREFIX}1"] * 4  # two boot inventories and two calls


@pytest.mark.parametrize(("expires_in", "exchanges"), [(300, 4), (600, 4), (601, 1), (None, 1)])
async def test_expiry_margin_of_ten_minutes_decides_how_often_to_exchange(
    stub: StubBroker, expires_in: float | None, exchanges: int
) -> None:
    stub.expires_in = expires_in
    async with connect(stub, token="", api_key=API_KEY) as session:
        for _ in range(3):
            await session.call_json("aws_describe_scope", SCOPE)
    assert len(stub.calls("/host/exchange")) == exchanges
    assert bearer_tokens(stub)[-1] == f"{TOKEN_PREFIX}{exchanges}"


async def test_concurrent_calls_share_one_in_flight_exchange(stub: StubBroker) -> None:
    stub.reply("POST", "/host/exchange", Reply(json={"token": "shared-jwt", "expires_in": 3600}, delay=0.4))
    async with connect(stub, token="", api_key=API_KEY, inventory_wait=0) as session:
        async with anyio.create_task_group() as tasks:
            for _ in range(4):
                tasks.start_soon(session.call_json, "aws_describe_scope", SCOPE)
    assert len(stub.calls("/host/exchange")) == 1
    assert bearer_tokens(stub) == ["shared-jwt"] * 6  # the two boot inventories plus four tool calls


async def test_short_lived_exchange_is_still_shared_by_concurrent_waiters(stub: StubBroker) -> None:
    stub.reply("POST", "/host/exchange", Reply(json={"token": "brief", "expires_in": 300}, delay=0.3))
    source = ExchangeTokenSource(stub.base_url, api_key=API_KEY)
    tokens: list[str] = []

    async def take() -> None:
        tokens.append(await source.token())

    async with anyio.create_task_group() as tasks:
        for _ in range(3):
            tasks.start_soon(take)
    await source.aclose()
    assert tokens == ["brief"] * 3 and len(stub.calls("/host/exchange")) == 1


async def test_exchange_failure_reaches_the_model_and_is_not_cached(stub: StubBroker) -> None:
    refused = Reply(status=403, text="host key revoked")
    stub.reply("POST", "/host/exchange", refused, refused, Reply(json={"token": "t2"}))  # boot, call 1, call 2
    async with connect(stub, token="", api_key=API_KEY) as session:
        text, is_error = await session.call("aws_describe_scope", SCOPE)
        assert await session.call_json("aws_describe_scope", SCOPE) == {"ok": True, "path": "/aws/scope"}
    assert is_error
    assert text == "Broker error 403: Token exchange failed: 403 host key revoked"
    assert len(stub.calls("/host/exchange")) == 3  # boot inventory failed too, then one success
    assert any("aws_inventory_lookup_failed" in w for w in session.warnings)


async def test_exchange_without_token_is_a_local_500(stub: StubBroker) -> None:
    stub.reply("POST", "/host/exchange", Reply(json={"expires_in": 3600}))
    async with connect(stub, token="", api_key=API_KEY) as session:
        assert await session.call("aws_describe_scope", SCOPE) == ("Broker error 500: Token exchange returned no token", True)
    assert stub.api_calls() == []


async def test_exchange_error_body_never_echoes_the_host_key(stub: StubBroker) -> None:
    stub.reply("POST", "/host/exchange", Reply(status=401, text=f"unknown key {API_KEY}"))
    async with connect(stub, token="", api_key=API_KEY) as session:
        text, _ = await session.call("aws_describe_scope", SCOPE)
    assert API_KEY not in text and "[redacted]" in text


async def test_expired_preset_token_without_host_key_fails_locally_with_401(stub: StubBroker) -> None:
    clock = FakeClock()
    source = ExchangeTokenSource(stub.base_url, preset_token=PRESET_TOKEN, clock=clock)
    async with BrokerClient(stub.base_url, source) as client:
        await client.get("/aws/scope")
        clock.now += 50 * 60
        with pytest.raises(BrokerCallError) as caught:
            await client.get("/aws/scope")
    assert caught.value.status == 401 and str(caught.value).startswith("Broker error 401: ")
    assert PRESET_TOKEN not in str(caught.value)
    assert len(stub.requests) == 1


async def test_preset_token_is_trusted_for_fifty_minutes_then_exchanged(stub: StubBroker) -> None:
    clock = FakeClock()
    source = ExchangeTokenSource(stub.base_url, preset_token=PRESET_TOKEN, api_key=API_KEY, clock=clock)
    clock.now += 50 * 60 - 1
    assert await source.token() == PRESET_TOKEN
    clock.now += 1
    assert await source.token() == f"{TOKEN_PREFIX}1"
    await source.aclose()


async def test_a_cancelled_leader_hands_the_exchange_to_a_waiter(stub: StubBroker) -> None:
    stub.reply("POST", "/host/exchange", Reply(json={"token": "slow"}, delay=0.3), Reply(json={"token": "second"}))
    source = ExchangeTokenSource(stub.base_url, api_key=API_KEY)
    got: list[str] = []

    async def waiter() -> None:
        got.append(await source.token())

    async with anyio.create_task_group() as tasks:
        with anyio.move_on_after(0.1):
            async with anyio.create_task_group() as leader:
                leader.start_soon(source.token)
                await anyio.sleep(0.05)
                tasks.start_soon(waiter)
                await anyio.sleep(1)
    await source.aclose()
    # Whether the leader's request reached the stub before it was cancelled is a race; the waiter
    # must neither hang nor inherit the cancellation: it leads a fresh exchange and gets a token.
    assert len(got) == 1 and got[0] in {"slow", "second"}


async def test_embedded_mode_plugs_an_asgi_transport_and_an_in_process_token_source() -> None:
    class Signer:
        async def token(self) -> str:
            return "signed-in-process"

    assert isinstance(Signer(), TokenSource)
    broker = StubBroker(base_url="http://embedded.invalid")
    transport = httpx.ASGITransport(asgi_app(broker))
    async with connect(broker, token="", transport=transport, token_source=Signer()) as session:
        assert await session.call_json("aws_describe_scope", SCOPE) == {"ok": True, "path": "/aws/scope"}
    assert sorted(r.path for r in broker.requests) == ["/aws/inventory", "/aws/scope", "/gcp/inventory"]
    assert {r.headers["authorization"] for r in broker.requests} == {"Bearer signed-in-process"}
