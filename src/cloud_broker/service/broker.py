"""The broker: one object holding every use-case, built from its adapters."""

from __future__ import annotations

from cloud_broker.service.access import AgentAccess
from cloud_broker.service.approvals import Approvals
from cloud_broker.service.deps import Deps
from cloud_broker.service.jobs import JobRunner
from cloud_broker.service.kill_switch import KillSwitch
from cloud_broker.service.minting import Minter, MintJobs
from cloud_broker.service.orphans import Liveness, Orphans
from cloud_broker.service.resolution import SecretRefs
from cloud_broker.service.revocation import Revocations
from cloud_broker.service.sweeper import Sweeper


class Broker:
    """Edges (API, CLI, MCP in-process) talk to this and nothing deeper.

    ``jobs`` is the process's job runner: mints and cloud revocations are registered here, and
    the notification dispatcher registers its message kinds with it (``cli.background``).
    """

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.orphans = Orphans(deps)
        self.liveness = Liveness(deps)
        minter = Minter(deps, self.orphans)
        self.jobs = JobRunner(deps)
        self.revocations = Revocations(deps, self.jobs)
        self.access = AgentAccess(deps, minter, self.revocations)
        self.secret_refs = SecretRefs(deps, self.access)
        self.approvals = Approvals(deps, MintJobs(deps, minter, self.jobs), self.revocations)
        self.kill_switch = KillSwitch(deps, self.revocations)
        self.sweeper = Sweeper(deps, self.liveness, self.orphans, self.revocations)
