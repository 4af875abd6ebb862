"""The broker API's async HTTP client, shared by every program that talks to a broker as a host.

Two callers use it: the MCP server (:mod:`cloud_broker.mcp`), whose tools the model drives, and
the runtime's ``secret_ref`` resolver (``cloud-broker credential-process``, ``exec``,
``aws-profile``), which the model never sees. Keeping one client means one way to authenticate
(the ``AGT_*`` environment, ``AGT_TOKEN`` or a host key exchanged at ``/host/exchange``) and one
mapping of broker failures to text that holds no secret.

    broker_client.py  HTTP transport, headers and the error texts of the contract
    tokens.py         where the bearer token comes from (TokenSource, host-key exchange)
    errors.py         BrokerCallError, the one failure a caller sees, and redaction
    settings.py       the AGT_* variables a host program needs to reach its broker
    resolve.py        resolving a secret_ref into the grant's values (the resolver's one call)

It imports nothing of the broker's server side (service, store, api) nor of the MCP server.
"""
