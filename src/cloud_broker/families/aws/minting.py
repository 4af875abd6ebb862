"""The AssumeRole call for an approved AWS grant: the account's role, and a session policy
bounded to the grant's scope and expiry."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from cloud_broker.domain.ids import session_name
from cloud_broker.errors import NotFound
from cloud_broker.families.aws import lookups
from cloud_broker.families.aws.provider import MintRequest
from cloud_broker.families.aws.request import AwsAccessRequest
from cloud_broker.families.aws.session_policy import build_session_policy

if TYPE_CHECKING:
    from cloud_broker.config import BrokerConfig
    from cloud_broker.domain.grants import Grant
    from cloud_broker.families.aws.catalogue import Catalogue

STS_MIN_DURATION = 900
# STS's grammar for SourceIdentity: 2 to 64 characters of [\w+=,.@-].
_SOURCE_IDENTITY_CHAR = re.compile(r"[^\w+=,.@-]", re.ASCII)
SOURCE_IDENTITY_MAX = 64


def plan_mint(grant: Grant, config: BrokerConfig, catalogue: Catalogue) -> MintRequest:
    """Raises NotFound when the account left the file, InvalidInput when no session policy fits."""
    account = lookups.account(config, grant.target)
    if account is None:
        raise NotFound(f"AWS account {grant.target} is no longer enrolled", code="NO_ENROLMENT")
    assert grant.expires_at is not None
    request = AwsAccessRequest.of(grant.request())
    policy = build_session_policy(request, expires_at=grant.expires_at, catalogue=catalogue)
    return MintRequest(
        grant_id=grant.grant_id,
        account_id=grant.target,
        role_arn=account.role_arn,
        session_name=session_name(grant.grant_id),
        session_policy=policy,
        # STS sessions last at least 900 s; a shorter grant is cut off by aws:CurrentTime.
        duration_seconds=max(STS_MIN_DURATION, int(grant.ttl.total_seconds())),
        region=account.default_region,
        external_id=account.external_id,
        tags={"cloud-broker:agent": grant.agent_id, "cloud-broker:run": grant.run_id,
              "cloud-broker:grant": grant.grant_id},
        source_identity=source_identity(grant.agent_id),
    )


def source_identity(agent_id: str) -> str:
    """The SourceIdentity of an agent's sessions: its id as STS accepts it (2..64 of [\\w+=,.@-]).

    Agent ids are UUIDs and pass unchanged; anything else has each character STS refuses
    replaced by ``_`` and is cut at 64, so a mint never fails for the shape of an id.
    """
    value = _SOURCE_IDENTITY_CHAR.sub("_", agent_id)[:SOURCE_IDENTITY_MAX]
    return value if len(value) >= 2 else f"agent-{value}"
