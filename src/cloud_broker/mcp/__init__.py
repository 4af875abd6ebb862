"""The MCP face of cloud-broker: agent-facing tools over stdio, backed by the broker API.

Modules, from the wire inwards:

    server.py         run_stdio()/main(): start-up, inventory, stdio serving (light imports)
    protocol.py       the MCP SDK wiring (heavy imports live here, loaded off the event loop)
    tools.py          the tool catalogue: validate, call the broker, shape the text result
    schemas.py        advertised JSON schemas and the pydantic models that enforce them
    descriptions.py   tool prose and the inventory block
    aws_api.py        the AWS endpoints of the broker API (paths, queries, bodies)
    broker_client.py  HTTP transport, headers and the error texts of the contract
    tokens.py         where the bearer token comes from (TokenSource, host-key exchange)
    turn_initiator.py who started this turn, read from files the host runtime writes
    settings.py       the AGT_* environment, read once at the edge

This package module stays import-free on purpose: ``python -m cloud_broker.mcp`` and the
CLI must not pay for the SDK before they know they need it.
"""
