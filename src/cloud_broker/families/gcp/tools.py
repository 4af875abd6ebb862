"""The ``gcp_*`` MCP tools: descriptions, input schemas and the models that enforce them.

The same eight tools as every family (contract §4.3), with the same inputs and outputs as the
published client's. Two wire differences from AWS follow it: requests carry no
``turn_initiator``; and one departs from it on purpose: poll, release and credentials name the
agent (the published client sends none), so the broker checks the grant is this agent's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cloud_broker.families.gcp.grammar import PROJECT_ID_PATTERN
from cloud_broker.families.gcp.wire_types import ProjectId
from cloud_broker.mcp.family import Endpoint, FamilyTools
from cloud_broker.mcp.schemas import (
    NonEmptyList,
    Reason,
    SourceContext,
    TaskId,
    ToolArgs,
    string_list,
    ttl_schema,
)
from cloud_broker.mcp.tool_specs import family_specs
from cloud_broker.wire_types import TtlSeconds, Uuid

DESCRIBE_SCOPE = """\
Read-only look at what you may ask for in one GCP project: the maximum credential lifetime \
(max_ttl_seconds), the permissions and resource patterns any grant may cover, the auto-approve \
rules, the permission denylist and the service account tokens are minted for. A Cloud Storage \
token is bounded by predefined roles, so it carries every permission of the narrowest roles \
holding what you ask for; it is approved without a human only when one rule covers each of \
those permissions on each resource. Other services have no such bound and always go to a \
person. Free to call and changes nothing."""

PREVIEW_REQUEST = """\
Dry run of a request: reports the outcome it would get (auto_approve, route_to_approver or \
hard_deny) and why, what would bound the token (enforced_by: access_boundary or \
service_account_bindings) and, for Cloud Storage, the roles and effective permissions. Creates \
no grant, pages nobody and writes no audit record. Takes the same project_id, permissions, \
resources and ttl_seconds as gcp_request_access."""

CHECK_APPROVAL_CHANNEL = """\
Pre-flight check that your Slack bot can post in the approval channel for this project. Call it \
once per project per session before your first gcp_request_access there. Reply: {ok, channel?, \
bot_user_handle?, reason?, raw_error?}. It matters only for requests a human must approve. If ok \
is false and the request would route to an approver, tell the user what to fix first: reason \
channel_not_found or not_in_channel -> invite the bot (/invite @<bot_user_handle>) to the \
approvals channel; archived -> an admin must point the setting at a live channel; \
no_approval_channel_configured -> an approval channel must be set in the team settings; \
agent_slack_not_configured -> escalate to the operator; auth_failed or unknown -> escalate to \
the operator and quote raw_error."""

REQUEST_ACCESS = """\
Ask for a short-lived GCP access token scoped to the permissions (IAM permission names such as \
storage.objects.get) and resources (full resource names such as \
projects/_/buckets/reports/objects/*) the task needs. The policy decides: an auto-approved \
request comes back status "active" with a secret_ref pointer and expires_at; otherwise "pending" \
for a human approver, or "denied" with denial_reason. enforced_by says what bounds the token. \
The token itself is never in this reply: fetch it with gcp_get_credentials once active.
When pending: notification_status says whether the approver was reached (sent, failed, \
not_attempted). Quote notification_channel_name to the user exactly as #name, and share \
notification_permalink if present. A 429 TOO_MANY_PENDING means too many of your requests are \
waiting already: wait or release the ones you no longer need. When the decision is pushed to \
you (naming the original conversation, where you acknowledge it in one line), act on it; do not \
poll in a loop. After about 5 minutes of silence one gcp_poll_grant is reasonable.
Reusing grants: if you already hold a grant_id for the same access, call gcp_poll_grant first. \
Keep waiting on pending; reuse an active grant whose expires_at is in the future; file a new \
request if it is denied, expired, failed, revoked or past expires_at.
Fill source_context from the <channel> tag of the message that asked for the work. Put a short, \
secret-free explanation for the approver in reason."""

POLL_GRANT = """\
One status check of a GCP grant: {grant_id, status, secret_ref?, expires_at?, denial_reason?, \
enforced_by}. Statuses: pending, active (usable until expires_at), denied, failed, revoked, \
expired; everything except pending is final. Never poll in a tight loop."""

RELEASE_ACCESS = """\
Give a GCP grant back as soon as the work is done; safe to repeat. Reply: {grant_id, status, \
revoked_in_cloud?, cloud_revocation?}. Google access tokens cannot be revoked: the broker stops \
handing the token out at once, but a copy already read keeps working until expires_at \
(revoked_in_cloud false; cloud_revocation says so)."""

GET_CREDENTIALS = """\
Fetch the access token of an active, unexpired GCP grant: {grant_id, expires_at, credentials: \
{access_token}}. Use it as CLOUDSDK_AUTH_ACCESS_TOKEN (gcloud) or as a bearer token for the \
client libraries, for the commands of this task only, and never echo it back to the user. \
Fails with 409 once the grant was released or revoked and with 410 after it expired: request a \
new grant then."""

GET_CREDENTIALS_RUNTIME_ONLY = """\
Your team keeps GCP access tokens out of this conversation: this tool never returns them. For an \
active, unexpired grant it answers {grant_id, expires_at, secret_ref, credentials_delivery: \
"runtime_only", resolve: {...}}, where resolve lists the commands that use the secret_ref in your \
shell: `cloud-broker exec SECRET_REF -- gcloud ...` (runs one command with \
CLOUDSDK_AUTH_ACCESS_TOKEN and GOOGLE_OAUTH_ACCESS_TOKEN set for it alone), or `cloud-broker exec \
--server SECRET_REF -- python script.py` (Google client libraries' default credentials fetch the \
token from a local metadata endpoint themselves). Never print, log or copy the token. Fails with \
409 once the grant was released or revoked and with 410 after it expired: request a new grant then."""

LIST_ACCOUNTS = """\
Live list of the GCP projects enrolled for your team: {projects: [{project_id, display_name, \
description?, service_account_email?}]}. Use it to find the right project_id when the list in \
the other tool descriptions is missing, truncated or stale, or after a "no enrolment" error."""


DESCRIPTIONS = {
    Endpoint.DESCRIBE_SCOPE: DESCRIBE_SCOPE, Endpoint.PREVIEW: PREVIEW_REQUEST,
    Endpoint.APPROVAL_CHANNEL: CHECK_APPROVAL_CHANNEL, Endpoint.REQUEST: REQUEST_ACCESS, Endpoint.POLL: POLL_GRANT,
    Endpoint.RELEASE: RELEASE_ACCESS, Endpoint.CREDENTIALS: GET_CREDENTIALS, Endpoint.INVENTORY: LIST_ACCOUNTS,
}


class ProjectArgs(ToolArgs):
    project_id: ProjectId


class PreviewArgs(ToolArgs):
    project_id: ProjectId
    permissions: NonEmptyList
    resources: NonEmptyList
    ttl_seconds: TtlSeconds | None = None


class RequestArgs(ToolArgs):
    agent_id: Uuid | None = None
    run_id: Uuid | None = None
    project_id: ProjectId
    permissions: NonEmptyList
    resources: NonEmptyList
    ttl_seconds: TtlSeconds | None = None
    task_id: TaskId | None = None
    reason: Reason | None = None
    source_context: SourceContext | None = None


PROJECT_ID = {
    "type": "string",
    "pattern": PROJECT_ID_PATTERN,
    "description": "GCP project id (6-30 lower-case letters, digits, hyphens). Use one from the enrolled-projects "
                   "list; never guess one.",
}
TARGET = {"project_id": PROJECT_ID}
SCOPE = {
    "permissions": string_list('IAM permissions to allow, e.g. ["storage.objects.get", "storage.objects.list"]. '
                               "Ask only for what the task needs."),
    "resources": string_list('Full resource names (a trailing * allowed), e.g. ["projects/_/buckets/reports", '
                             '"projects/_/buckets/reports/objects/*"].'),
}
TTL = ttl_schema("project")


def _service_account(project: Mapping[str, Any]) -> str | None:
    email = project.get("service_account_email")
    return email if isinstance(email, str) else None


TOOLS = FamilyTools(
    family="gcp",
    target_field="project_id",
    target_noun="GCP project",
    specs=family_specs("gcp", DESCRIPTIONS, target=TARGET, scope=SCOPE, ttl=TTL, target_args=ProjectArgs,
                       preview_args=PreviewArgs, request_args=RequestArgs),
    inventory_key="projects",
    inventory_heading=("GCP projects enrolled for this agent. Pass one of these project_id values exactly; "
                       "never make up or guess a project id:"),
    inventory_extra=_service_account,
    # The published client names no agent on GCP's grant routes; ours does, so the broker checks
    # the grant is this agent's, not merely one of this host's agents'.
    agent_on_grant_routes=True,
    sends_turn_initiator=False,
    runtime_credentials_description=GET_CREDENTIALS_RUNTIME_ONLY,
)
