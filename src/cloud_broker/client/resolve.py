"""Resolving a ``secret_ref`` into its grant's values: the resolver's one broker call.

``POST /secret-refs/resolve`` with ``{secret_ref, agent_id, mechanism}``, authenticated as every
call of :class:`~cloud_broker.client.broker_client.BrokerClient` is. No MCP tool calls it; the
values it returns go straight into a command's environment or an SDK's credential provider,
never into text a model reads. Failures are :class:`BrokerCallError` whose text is the broker's
``error`` string (``GRANT_RELEASED: …``), which never holds a value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cloud_broker.client.broker_client import BrokerClient
from cloud_broker.client.errors import BrokerCallError

RESOLVE_PATH = "/secret-refs/resolve"


@dataclass(frozen=True)
class ResolvedGrant:
    """A grant's values and what presenting them needs; values are kept out of ``repr``."""

    grant_id: str
    family: str
    target: str
    expires_at: datetime
    values: dict[str, str] = field(repr=False)
    service_account: str | None = None

    def value(self, name: str) -> str:
        """One credential value; a missing one is a broker fault, reported without values."""
        found = self.values.get(name)
        if not isinstance(found, str) or not found:
            raise BrokerCallError(f"the broker's {self.family} credentials carry no {name}")
        return found


async def resolve_secret_ref(client: BrokerClient, agent_id: str, secret_ref: str, mechanism: str) -> ResolvedGrant:
    """Ask the broker for the values behind ``secret_ref`` as ``agent_id``, naming ``mechanism``."""
    reply = await client.post(RESOLVE_PATH, body={"secret_ref": secret_ref, "agent_id": agent_id,
                                                  "mechanism": mechanism})
    return _parse(reply)


def _parse(reply: Any) -> ResolvedGrant:
    try:
        return ResolvedGrant(
            grant_id=str(reply["grant_id"]), family=str(reply["family"]), target=str(reply["target"]),
            expires_at=datetime.fromisoformat(str(reply["expires_at"])),
            values={k: v for k, v in dict(reply["credentials"]).items() if isinstance(v, str)},
            service_account=reply.get("service_account") if isinstance(reply.get("service_account"), str) else None,
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        raise BrokerCallError("the broker's resolve reply is not of the expected shape") from None
