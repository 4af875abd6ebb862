"""The token an approved GCP grant is minted as: the ceiling's service account, impersonated
for the grant's lifetime, and for Cloud Storage downscoped by the planned access boundary."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from cloud_broker.errors import InvalidInput, NotFound
from cloud_broker.families.gcp import lookups
from cloud_broker.families.gcp.boundary import Boundary, Unbounded
from cloud_broker.families.gcp.decide import enforcement
from cloud_broker.families.gcp.request import GcpAccessRequest

if TYPE_CHECKING:
    from cloud_broker.config import BrokerConfig
    from cloud_broker.domain.grants import Grant
    from cloud_broker.families.gcp.catalogue import GcpCatalogue

# IAM Credentials refuses lifetimes over an hour unless the organisation policy
# ``iam.allowServiceAccountCredentialLifetimeExtension`` lists the account; the contract's
# TTLs stop at an hour too.
MAX_LIFETIME_SECONDS = 3600


@dataclass(frozen=True)
class GcpMintPlan:
    grant_id: str
    project_id: str
    service_account: str
    lifetime_seconds: int
    # None: no boundary (not Cloud Storage): the service account's bindings bound the token.
    boundary: Boundary | None


def plan_mint(grant: Grant, config: BrokerConfig, catalogue: GcpCatalogue) -> GcpMintPlan:
    """Raises NotFound when the project or the team's ceiling left the file, InvalidInput when the
    scope can no longer be bounded (a catalogue update changed the roles)."""
    if lookups.project(config, grant.target) is None:
        raise NotFound(f"GCP project {grant.target} is no longer enrolled", code="NO_ENROLMENT")
    ceiling = lookups.ceiling(config, grant.team, grant.target)
    if ceiling is None:
        raise NotFound(f"team {grant.team} has no ceiling on GCP project {grant.target} any more", code="NO_ENROLMENT")
    try:
        enforced = enforcement(GcpAccessRequest.of(grant.request()), catalogue)
    except Unbounded as exc:
        raise InvalidInput(f"the grant can no longer be bounded: {exc}") from None
    return GcpMintPlan(grant.grant_id, grant.target, ceiling.service_account,
                       min(MAX_LIFETIME_SECONDS, int(grant.ttl.total_seconds())), enforced.boundary)
