"""``cloud-broker mcp`` against a broker that is down: the error says where it looked, and why there."""

from __future__ import annotations

import socket
import sys
import tempfile

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

from cloud_broker.cli.sandbox_process import child_env

API_KEY = "tlk_" + "unreachable-test-key"


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.anyio
async def test_a_broker_that_is_down_is_named_with_the_variable_that_set_it() -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    env = child_env(AGT_HOST=url, AGT_API_KEY=API_KEY, AGT_AGENT_ID="agent-1", AGT_RUN_ID="run-1")
    params = StdioServerParameters(command=sys.executable, args=["-m", "cloud_broker", "mcp"], env=env)
    with tempfile.TemporaryFile("w+") as errlog:
        async with Client(stdio_client(params, errlog=errlog), mode="legacy") as client:
            result = await client.call_tool("aws_list_accounts", {})
        errlog.seek(0)
        stderr = errlog.read()
    text = result.content[0].text  # type: ignore[union-attr]
    assert result.is_error
    assert f"cannot reach the broker at {url} (set by AGT_HOST)" in text
    assert f"cannot reach the broker at {url} (set by AGT_HOST)" in stderr
    assert API_KEY not in text and API_KEY not in stderr
