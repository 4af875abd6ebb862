"""Fixtures for the MCP tests: one stub broker per session, reset for every test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from mcp_broker_stub import StubBroker, StubServer


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def _stub_server() -> Iterator[StubBroker]:
    broker = StubBroker()
    server = StubServer(broker)
    server.start()
    yield broker
    server.stop()


@pytest.fixture
def stub(_stub_server: StubBroker) -> StubBroker:
    _stub_server.reset()
    return _stub_server
