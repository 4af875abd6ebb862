"""The token an approved GCP grant is minted as: the ceiling's service account, impersonated
for the grant's lifetime, and for Cloud Storage downscoped by the planned access boundary."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
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
# Less than this left of the window is not worth a token: refused rather than minted.
MIN_LIFETIME_SECONDS = 60


@dataclass(frozen=True)
class GcpMintPlan:
    grant_id: str
    project_id: str
    service_account: str
    lifetime_seconds: int
    # None: no boundary (not Cloud Storage): the service account's bindings bound the token.
    boundary: Boundary | None


def plan_mint(grant: Grant, config: BrokerConfig, catalogue: GcpCatalogue, now: datetime) -> GcpMintPlan:
    """Raises NotFound when the project or the team's ceiling left the file, InvalidInput when the
    scope can no longer be bounded (a catalogue update changed the roles) or the grant's window
    passed before the mint ran.

    A Google token cannot be cut off at ``expires_at`` the way an AWS session policy is, so its
    lifetime is what is left of the approved window when the mint runs (a mint job deferred to
    a broker process runs later than the approval that fixed ``expires_at``)."""
    if lookups.project(config, grant.target) is None:
        raise NotFound(f"GCP project {grant.target} is no longer enrolled", code="NO_ENROLMENT")
    ceiling = lookups.ceiling(config, grant.team, grant.target)
    if ceiling is None:
        raise NotFound(f"team {grant.team} has no ceiling on GCP project {grant.target} any more", code="NO_ENROLMENT")
    try:
        enforced = enforcement(GcpAccessRequest.of(grant.request()), catalogue)
    except Unbounded as exc:
        raise InvalidInput(f"the grant can no longer be bounded: {exc}") from None
    assert grant.expires_at is not None
    left = math.floor((grant.expires_at - now).total_seconds())
    if left < MIN_LIFETIME_SECONDS:
        raise InvalidInput("the grant's approved window ended before it could be minted; request a new grant")
    return GcpMintPlan(grant.grant_id, grant.target, ceiling.service_account, min(MAX_LIFETIME_SECONDS, left),
                       enforced.boundary)
