"""The stdio server's start-up loads the SDK without its package re-exports, and nothing breaks for it.

Counted in modules, not timed: a fresh interpreter (what ``cloud-broker mcp`` is) must load the
server and the stdio transport without the SDK's client stack or its high-level ``MCPServer``,
and a later ``from mcp import Client`` must still work.
"""

from __future__ import annotations

import json
import subprocess
import sys

from cloud_broker.mcp.lean_import import lean_packages

PROBE = """
import importlib, json, sys
from cloud_broker.mcp.lean_import import lean_packages
made = lean_packages()
import cloud_broker.mcp.server
importlib.import_module("mcp.server.stdio")
importlib.import_module("cloud_broker.mcp.protocol")
loaded = {name: name in sys.modules for name in ("mcp.client.client", "mcp.server.mcpserver", "httpx2", "rich")}
count = len(sys.modules)
import httpx
from mcp import Client
from mcp.server import MCPServer
print(json.dumps({"made": made, "loaded": loaded, "count": count, "httpx_cli": sys.modules["httpx._main"] is None,
                  "later": [Client.__name__, MCPServer.__name__, httpx.AsyncClient.__name__]}))
"""


def test_a_fresh_server_process_skips_the_sdk_re_exports_and_a_later_import_still_finds_them() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    probe = json.loads(done.stdout)
    assert probe["made"] == ["mcp", "mcp.server"]
    assert probe["loaded"] == {"mcp.client.client": False, "mcp.server.mcpserver": False, "httpx2": False,
                               "rich": False}
    assert probe["httpx_cli"] is True
    assert probe["later"] == ["Client", "MCPServer", "AsyncClient"]


def test_packages_already_imported_are_left_alone() -> None:
    import mcp

    assert lean_packages() == [] and hasattr(mcp, "Client")
