"""The broker's HTTP API: the contract the published MCP client speaks, plus OpenAPI."""
