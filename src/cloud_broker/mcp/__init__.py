"""The MCP face of cloud-broker: agent-facing tools over stdio, and over streamable HTTP at
``/mcp`` on ``serve``, backed by the broker API.

Modules, from the wire inwards:

    server.py         run_stdio()/main(): start-up, inventory, stdio serving (light imports)
    lean_import.py    the SDK loaded without its package re-exports, for a faster start
    http_endpoint.py  /mcp on `serve`: streamable HTTP sessions, each built like the stdio server
    http_session.py   one such session: its SDK transport, its bearer, its idle timer
    protocol.py       the MCP SDK wiring (heavy imports live here, loaded off the event loop)
    tools.py          the tool catalogue: validate, call the broker, shape the text result
    schemas.py        advertised JSON schemas and the pydantic models that enforce them
    descriptions.py   tool prose and the inventory block
    broker_api.py     every family's endpoints of the broker API (paths, queries, bodies)
    turn_initiator.py who started this turn, read from files the host runtime writes
    settings.py       the AGT_* environment, read once at the edge

The HTTP client, its token sources and its error type live in :mod:`cloud_broker.client`,
shared with the runtime's ``secret_ref`` resolver (``cloud-broker credential-process``, ``exec``).

This package module stays import-free on purpose: ``python -m cloud_broker.mcp`` and the
CLI must not pay for the SDK before they know they need it.
"""
