"""The ``/gcp`` routes' own parts (contract §3.2): bodies, the ``project_id`` query, replies.

Poll, release and credentials name no agent (the published client sends none): the calling
host's token is the authority there, and any of the host's agents' GCP grants may be read.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Query
from pydantic import Field

from cloud_broker.api.family import FamilyWire
from cloud_broker.api.schemas import GrantFields, PreviewFields, unique
from cloud_broker.domain.limits import MAX_ACTIONS, MAX_RESOURCES
from cloud_broker.domain.requests import DEFAULT_TTL, AccessRequest
from cloud_broker.families.gcp import lookups
from cloud_broker.families.gcp.wire_types import Permission, ProjectId, Resource

if TYPE_CHECKING:
    from cloud_broker.config import BrokerConfig
    from cloud_broker.domain.grants import Grant
    from cloud_broker.families.gcp.ceiling import GcpCeiling


class GcpPreviewBody(PreviewFields):
    project_id: ProjectId
    permissions: list[Permission] = Field(min_length=1, max_length=MAX_ACTIONS)
    resources: list[Resource] = Field(min_length=1, max_length=MAX_RESOURCES)

    def to_request(self) -> AccessRequest:
        ttl = DEFAULT_TTL if self.ttl_seconds is None else timedelta(seconds=self.ttl_seconds)
        return AccessRequest("gcp", self.project_id,
                             {"permissions": unique(self.permissions), "resources": unique(self.resources)}, ttl)


class GcpGrantCreateBody(GrantFields, GcpPreviewBody):
    pass


async def project_query(project_id: Annotated[ProjectId, Query()]) -> str:
    return project_id


def inventory(config: BrokerConfig, team: str) -> dict[str, Any]:
    projects = []
    for project in lookups.projects_for_team(config, team):
        entry: dict[str, Any] = {"project_id": project.project_id, "display_name": project.display_name}
        if project.description:
            entry["description"] = project.description
        ceiling = lookups.ceiling(config, team, project.project_id)
        if ceiling is not None:
            entry["service_account_email"] = ceiling.service_account
        projects.append(entry)
    return {"projects": projects}


def describe_scope(config: BrokerConfig, team: str, project_id: str, ceiling: GcpCeiling) -> dict[str, Any]:
    project = lookups.project(config, project_id)
    assert project is not None  # a ceiling exists only for an enrolled project
    body: dict[str, Any] = {"project_id": project_id, "display_name": project.display_name}
    if project.description:
        body["description"] = project.description
    return {
        **body,
        "team": team,
        "service_account_email": ceiling.service_account,
        "max_ttl_seconds": int(ceiling.max_ttl.total_seconds()),
        "default_ttl_seconds": int(DEFAULT_TTL.total_seconds()),
        "allowed_permissions": list(ceiling.allowed_permissions),
        "resource_patterns": list(ceiling.resource_patterns),
        "auto_approve": [{"name": r.name, "permissions": list(r.actions), "resources": list(r.resources)}
                         for r in ceiling.auto_approve],
        "permission_denylist": list(ceiling.permission_denylist),
        "rule": ("a Cloud Storage token is bounded by predefined roles, so it carries every permission of the "
                 "narrowest roles holding what you ask for; it auto-approves only if one rule covers each of "
                 "those permissions on each resource. Other services have no boundary and always go to a person"),
    }


def grant_facts(grant: Grant) -> dict[str, Any]:
    """``enforced_by`` (and the boundary's roles): what bounds the grant's token, in every reply."""
    from cloud_broker.families.gcp.catalogue import GcpCatalogue
    from cloud_broker.families.gcp.effective import enforced

    found = enforced(grant.scope, GcpCatalogue.default())
    if found is None:
        return {"enforced_by": "none"}
    facts = found.facts()
    facts.pop("effective_permissions", None)
    return facts


def runtime_use(ref: str) -> dict[str, Any]:
    """How the runtime turns a GCP ``secret_ref`` into a token, lazily, outside the transcript."""
    return {
        "exec": f"cloud-broker exec {ref} -- gcloud storage ls gs://BUCKET",
        "exec_sets": ["CLOUDSDK_AUTH_ACCESS_TOKEN", "GOOGLE_OAUTH_ACCESS_TOKEN"],
        "local_endpoint": f"cloud-broker exec --server {ref} -- python script.py",
        "local_endpoint_sets": ["GCE_METADATA_HOST", "GCE_METADATA_IP"],
        "local_endpoint_note": "google-auth's default credentials (e.g. google.cloud.storage.Client()) fetch "
                               "the token from it themselves",
    }


def resolution_facts(config: BrokerConfig, grant: Grant) -> dict[str, Any]:
    """The service account the token acts as: the metadata endpoint names it, as GCE's does."""
    ceiling = config.ceiling_config("gcp", grant.team, grant.target)
    account = getattr(ceiling, "service_account", None)
    return {"service_account": account} if isinstance(account, str) else {}


WIRE = FamilyWire(target_query=project_query, preview_body=GcpPreviewBody, grant_body=GcpGrantCreateBody,
                  agent_on_grant_routes=False, inventory=inventory, describe_scope=describe_scope,
                  grant_facts=grant_facts, runtime_use=runtime_use, resolution_facts=resolution_facts)
