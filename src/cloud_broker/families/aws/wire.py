"""The ``/aws`` routes' own parts (contract §3.2): bodies, the ``account_id`` query, replies."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Query
from pydantic import Field

from cloud_broker.api.family import FamilyWire
from cloud_broker.api.schemas import GrantFields, PreviewFields, unique
from cloud_broker.domain.limits import MAX_ACTIONS, MAX_REGIONS, MAX_RESOURCES
from cloud_broker.domain.requests import DEFAULT_TTL, AccessRequest
from cloud_broker.families.aws import lookups
from cloud_broker.families.aws.wire_types import AccountId, Action, Region, Resource

if TYPE_CHECKING:
    from cloud_broker.config import BrokerConfig
    from cloud_broker.families.aws.ceiling import Ceiling
    from cloud_broker.families.aws.config import AwsAccount


class PreviewBody(PreviewFields):
    account_id: AccountId
    actions: list[Action] = Field(min_length=1, max_length=MAX_ACTIONS)
    resources: list[Resource] = Field(min_length=1, max_length=MAX_RESOURCES)
    regions: list[Region] = Field(min_length=1, max_length=MAX_REGIONS)

    def to_request(self) -> AccessRequest:
        ttl = DEFAULT_TTL if self.ttl_seconds is None else timedelta(seconds=self.ttl_seconds)
        scope = {"actions": unique(self.actions), "resources": unique(self.resources),
                 "regions": unique(self.regions)}
        return AccessRequest("aws", self.account_id, scope, ttl)


class GrantCreateBody(GrantFields, PreviewBody):
    pass


async def account_query(account_id: Annotated[AccountId, Query()]) -> str:
    return account_id


def inventory(config: BrokerConfig, team: str) -> dict[str, Any]:
    return {"accounts": [account_public(a) for a in lookups.accounts_for_team(config, team)]}


def describe_scope(config: BrokerConfig, team: str, account_id: str, ceiling: Ceiling) -> dict[str, Any]:
    account = lookups.account(config, account_id)
    assert account is not None  # a ceiling exists only for an enrolled account
    return {
        **account_public(account),
        "team": team,
        "max_ttl_seconds": int(ceiling.max_ttl.total_seconds()),
        "default_ttl_seconds": int(DEFAULT_TTL.total_seconds()),
        "allowed_regions": list(ceiling.allowed_regions),
        "auto_approve": [
            {"name": r.name, "actions": list(r.actions), "resources": list(r.resources)} for r in ceiling.auto_approve
        ],
        "action_denylist": list(ceiling.action_denylist),
        "rule": "a request auto-approves only if every (action, resource) pair is covered by a single rule",
    }


def account_public(account: AwsAccount) -> dict[str, Any]:
    body: dict[str, Any] = {"account_id": account.account_id, "display_name": account.display_name}
    if account.description:
        body["description"] = account.description
    body["default_region"] = account.default_region
    body["allowed_regions"] = list(account.allowed_regions)
    return body


def runtime_use(ref: str) -> dict[str, Any]:
    """How the runtime turns an AWS ``secret_ref`` into credentials, lazily, outside the transcript."""
    profile = "cb-" + ref.rsplit("/", 1)[-1][:8]
    return {
        "exec": f"cloud-broker exec {ref} -- aws s3 ls",
        "exec_sets": ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_CREDENTIAL_EXPIRATION"],
        "aws_profile": f"cloud-broker aws-profile {ref} --profile {profile} --write",
        "then": f"aws --profile {profile} s3 ls (or AWS_PROFILE={profile} for any AWS SDK)",
        "credential_process": f"cloud-broker credential-process {ref}",
        "local_endpoint": f"cloud-broker exec --server {ref} -- python script.py",
        "local_endpoint_sets": ["AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN"],
    }


WIRE = FamilyWire(target_query=account_query, preview_body=PreviewBody, grant_body=GrantCreateBody,
                  agent_on_grant_routes=True, inventory=inventory, describe_scope=describe_scope,
                  runtime_use=runtime_use)
