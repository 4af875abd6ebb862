"""``python -m cloud_broker.mcp``: the MCP server on stdio, configured from AGT_* variables."""

import sys

from cloud_broker.mcp.lean_import import lean_packages

lean_packages()  # before anything imports httpx or the SDK: see lean_import

from cloud_broker.mcp.server import main  # after lean_packages, on purpose

sys.exit(main())
