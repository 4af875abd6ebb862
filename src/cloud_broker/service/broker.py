"""The broker: one object holding every use-case, built from its adapters."""

from __future__ import annotations

from cloud_broker.service.access import AgentAccess
from cloud_broker.service.approvals import Approvals
from cloud_broker.service.deps import Deps
from cloud_broker.service.minting import Minter
from cloud_broker.service.sweeper import Sweeper


class Broker:
    """Edges (API, CLI, MCP in-process) talk to this and nothing deeper."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        minter = Minter(deps)
        self.access = AgentAccess(deps, minter)
        self.approvals = Approvals(deps, minter)
        self.sweeper = Sweeper(deps)
