"""A silent event stream is given up as dead, whatever the transport.

The in-process (embedded) transport has no socket and ignores httpx's read timeout, so the
silence limit is kept by :class:`BrokerClient` itself. These run over that transport, against
tiny ASGI apps that misbehave on purpose; every wait has a generous bound and nothing asserts
on durations.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from mcp_embedded import WAIT_SECONDS

from cloud_broker.client.broker_client import BrokerClient
from cloud_broker.client.errors import BrokerCallError
from cloud_broker.client.tokens import StaticTokenSource
from cloud_broker.mcp.asgi_stream import streaming_asgi_transport

pytestmark = pytest.mark.anyio
URL = "http://broker.test"
TOKEN = "jwt-SECRET-0123456789"
KEEPALIVE = b": keepalive\n\n"
START = {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]}


async def read_into(received: list[bytes], app: Any, silence: float) -> BrokerCallError | None:
    """Collect what the stream delivers until it ends; the error it failed with, if it did."""
    failure = None
    async with streaming_asgi_transport(app) as transport, \
            BrokerClient(URL, StaticTokenSource(TOKEN), transport=transport, stream_silence=silence) as client:
        with anyio.fail_after(WAIT_SECONDS):
            try:
                async with client.stream("/aws/events") as response:
                    async for chunk in response.aiter_bytes():
                        received.append(chunk)
            except BrokerCallError as exc:  # caught here, not outside the transport's task group
                failure = exc
    return failure


async def test_a_stream_that_falls_silent_fails_as_a_broker_call_error() -> None:
    async def goes_quiet(scope: Any, receive: Any, send: Any) -> None:
        await send(START)
        await send({"type": "http.response.body", "body": KEEPALIVE, "more_body": True})
        await anyio.sleep_forever()

    received: list[bytes] = []
    failure = await read_into(received, goes_quiet, silence=0.2)
    assert received == [KEEPALIVE]
    assert failure is not None and "no data from the broker" in str(failure)


async def test_a_broker_that_never_answers_fails_as_a_broker_call_error() -> None:
    async def never_answers(scope: Any, receive: Any, send: Any) -> None:
        await anyio.sleep_forever()

    failure = await read_into([], never_answers, silence=0.2)
    assert failure is not None and "did not answer the event stream" in str(failure)


async def test_the_limit_is_on_each_silence_not_on_the_streams_life() -> None:
    chunks = 15

    async def keeps_talking(scope: Any, receive: Any, send: Any) -> None:
        await send(START)
        for _ in range(chunks):
            await send({"type": "http.response.body", "body": KEEPALIVE, "more_body": True})
            await anyio.sleep(0.1)
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    received: list[bytes] = []
    assert await read_into(received, keeps_talking, silence=1.0) is None
    assert b"".join(received) == KEEPALIVE * chunks


async def test_the_app_hears_the_disconnect_when_the_caller_gave_up_before_the_answer() -> None:
    release, disconnected = anyio.Event(), anyio.Event()

    async def slow_to_answer(scope: Any, receive: Any, send: Any) -> None:
        await receive()  # the request body
        await release.wait()
        await send(START)
        if (await receive())["type"] == "http.disconnect":
            disconnected.set()

    async with streaming_asgi_transport(slow_to_answer) as transport, \
            BrokerClient(URL, StaticTokenSource(TOKEN), transport=transport, stream_silence=0.2) as client:
        with anyio.fail_after(WAIT_SECONDS):
            with pytest.raises(BrokerCallError):
                async with client.stream("/aws/events"):
                    pass
            release.set()
            await disconnected.wait()
