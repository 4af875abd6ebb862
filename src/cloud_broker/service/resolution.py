"""Resolving a ``secret_ref`` into its grant's values, for the runtime and never for the model.

This is the one use-case through which credential values leave the broker when a team is
``runtime_only``. It is reached only by the resolver's own route (``POST /secret-refs/resolve``),
which no MCP tool calls: the model can ask for a grant and read its pointer, but whatever it
does through MCP, no tool result carries a value. The runtime (``cloud-broker
credential-process``, ``exec``, the local credential endpoints) calls it as the grant's own
host and agent, at the moment a command needs the credentials.

Checks, in order, each with the contract's status: the pointer's shape (400), that the host
acts for the agent (403), that the grant is this agent's, of the pointer's family *and* run
(404, like any grant of someone else: an id leaks nothing), that it is still usable (409
released, 410 expired). Each resolution writes a ``credentials.resolved`` audit row naming the
agent, the grant and the mechanism, never a value.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from cloud_broker.domain.delivery import ResolveMechanism
from cloud_broker.domain.grants import Grant
from cloud_broker.domain.ids import canonical_uuid
from cloud_broker.errors import InvalidInput, NotFound, TooManyRequests
from cloud_broker.service.access import AgentAccess, require_usable
from cloud_broker.service.deps import Deps, agent_actor
from cloud_broker.service.ports import UnitOfWork

_UUID = r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
REF_PATTERN = rf"^secret_ref://[a-z][a-z0-9-]{{0,31}}/runs/{_UUID}/{_UUID}$"
_REF = re.compile(rf"secret_ref://(?P<family>[a-z][a-z0-9-]{{0,31}})/runs/(?P<run_id>{_UUID})/(?P<grant_id>{_UUID})")
REF_SHAPE = "secret_ref://<family>/runs/<run_id>/<grant_id>"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SecretRef:
    family: str
    run_id: str
    grant_id: str


@dataclass(frozen=True)
class Resolution:
    grant: Grant
    values: dict[str, str]


def parse_ref(text: str) -> SecretRef:
    """The pointer's parts (ids in canonical form); the text itself is never echoed back."""
    match = _REF.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise InvalidInput(f"malformed secret_ref: expected {REF_SHAPE} with UUIDs", code="INVALID_SECRET_REF")
    return SecretRef(match["family"], canonical_uuid(match["run_id"]), canonical_uuid(match["grant_id"]))


RESOLVED = "credentials.resolved"
RATE_WINDOW = timedelta(minutes=1)


class SecretRefs:
    """Resolves pointers for the runtime of the agent that holds them."""

    def __init__(self, deps: Deps, access: AgentAccess) -> None:
        self._deps = deps
        self._access = access

    def resolve(self, host: str, agent_id: str, text: str, mechanism: ResolveMechanism) -> Resolution:
        """The grant behind ``text`` and its values, if ``agent_id`` (acting through ``host``)
        holds it and it is usable now; the audit row is written before the values are opened."""
        ref = parse_ref(text)
        self._deps.family(ref.family)
        grant = self._access.grant_of(host, agent_id, ref.grant_id, ref.family)
        if grant.run_id != ref.run_id:
            raise NotFound(f"grant {ref.grant_id} not found", code="GRANT_NOT_FOUND")
        require_usable(grant, grant.status_at(self._deps.clock()))
        values = self._access.read_values(grant, RESOLVED, agent_actor(grant),
                                          admit=partial(self._admit, grant.agent_id), mechanism=mechanism.value)
        return Resolution(grant, values)

    def _admit(self, agent_id: str, uow: UnitOfWork) -> None:
        """Refuse a resolution beyond ``broker.max_resolutions_per_agent_per_minute``: each one
        is an audit row that stays forever, so a loop over the resolver must not fill a disk.
        Counted from the agent's newest rows only (the cap of them), whatever its history, in
        the unit of work that writes the row (under the agent's lock on PostgreSQL)."""
        cap = self._deps.config.broker.max_resolutions_per_agent_per_minute
        since = self._deps.clock() - RATE_WINDOW
        recent = [at for at in uow.recent_audit_times(agent_id, RESOLVED, cap) if at > since]
        if len(recent) >= cap:
            log.warning("refused a resolution of agent %s: %d in the last minute", agent_id, len(recent))
            raise TooManyRequests(f"this agent resolved {len(recent)} secret_refs in the last minute and "
                                  f"broker.max_resolutions_per_agent_per_minute allows {cap}: SDKs cache "
                                  "credentials until they expire, so a loop is refused; wait a minute",
                                  code="TOO_MANY_RESOLUTIONS")
