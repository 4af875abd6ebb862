"""``python -m cloud_broker.mcp``: the MCP server on stdio, configured from AGT_* variables."""

import sys

from cloud_broker.mcp.server import main

sys.exit(main())
