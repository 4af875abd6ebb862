"""The ``aws_*`` MCP tools: descriptions, input schemas and the models that enforce them.

The advertised schema is what the model reads, so it is hand-written for clarity; the models
are what actually run. A test keeps the two in step (same properties, same required set).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cloud_broker.families.aws.grammar import ACCOUNT_ID_PATTERN
from cloud_broker.families.aws.wire_types import AccountId
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
Read-only look at what you may ask for in one AWS account: the maximum credential lifetime \
(max_ttl_seconds), the regions allowed, the auto-approve rules and the action denylist. Each \
auto-approve rule pairs a set of actions with a set of resource ARNs; a request is approved \
without a human only when every requested action-resource pair is covered by one single rule. \
Free to call and changes nothing: use it to shape a request before making it."""

PREVIEW_REQUEST = """\
Dry run of a request: reports the outcome it would get (auto_approve, route_to_approver or \
hard_deny) and why, e.g. {"would": "auto_approve", "reason": null}. Creates no grant, pages \
nobody and writes no audit record. Takes the same account, actions, resources, regions and \
ttl_seconds as aws_request_access."""

CHECK_APPROVAL_CHANNEL = """\
Pre-flight check that your Slack bot can post in the approval channel for this account. Call it \
once per account per session before your first aws_request_access there. Reply: {ok, channel?, \
bot_user_handle?, reason?, raw_error?}. It matters only for requests a human must approve: a \
request that aws_preview_request says would auto_approve can go ahead whatever this answers. If \
ok is false and the request would route to an approver, tell the user what to fix first: reason channel_not_found or not_in_channel -> ask them to invite the bot \
(/invite @<bot_user_handle>) to the approvals channel; archived -> an admin must point the \
setting at a live channel; no_approval_channel_configured -> an approval channel must be set in \
the team settings; agent_slack_not_configured -> escalate to the operator (this agent has no \
Slack bot); auth_failed or unknown -> escalate to the operator and quote raw_error."""

REQUEST_ACCESS = """\
Ask for short-lived AWS credentials scoped to exactly the actions, resources and regions the \
task needs. The policy decides: an auto-approved request comes back status "active" with a \
secret_ref pointer and expires_at; otherwise it comes back "pending" for a human approver to \
decide, or "denied" with denial_reason. Raw credentials are never included in this reply: fetch \
them with aws_get_credentials once the grant is active.
When pending: notification_status says whether the approver was reached (sent, failed, \
not_attempted). Quote notification_channel_name to the user exactly as #name, and share \
notification_permalink if present. If posting failed but notification_operator_alerted is true, \
an operator was paged elsewhere and the grant can still be approved. notification_batched true \
means approvers got one summary of several requests rather than a message for this one: say \
so, quoting the permalink. A 429 TOO_MANY_PENDING means too many of your requests are waiting \
already: wait for their decisions or release the ones you no longer need, and do not re-send \
variations of the same request. When the decision is \
pushed to you as a new message (naming the original conversation, where you should acknowledge \
it in one line and carry on), act on it; do not poll in a loop. After about 5 minutes of silence \
one aws_poll_grant is reasonable.
Reusing grants: if you already hold a grant_id for the same access, call aws_poll_grant first. \
Keep waiting on pending; reuse an active grant whose expires_at is in the future; drop the id \
and file a new request if it is denied, expired, failed, revoked or past expires_at. Only say a \
request is "already in flight" right after a poll confirmed it.
Fill source_context from the <channel> tag of the message that asked for the work so the outcome \
is announced there. Put a short, secret-free explanation for the approver in reason."""

POLL_GRANT = """\
One status check of a grant: {grant_id, status, secret_ref?, expires_at?, denial_reason?}. \
Statuses: pending (still waiting for a human), active (usable until expires_at), denied, failed, \
revoked, expired; everything except pending is final. Use it to re-check an id you already \
hold (after about 5 minutes of silence on a pending one), never in a tight loop."""

RELEASE_ACCESS = """\
Give a grant back before its TTL ends, as soon as the work is done. Safe to repeat: releasing \
a grant that is already revoked or expired is fine. Reply: {grant_id, status, revoked_in_cloud?, \
cloud_revocation?}. revoked_in_cloud says what the cloud itself did with credentials already \
issued: true (they no longer work), false (the cloud cannot cut them short; cloud_revocation \
says what bounds them instead) or "pending" (the broker is still asking). Either way the broker \
will not hand them out again."""

GET_CREDENTIALS = """\
Fetch the AWS credentials of an active, unexpired grant: {grant_id, expires_at, credentials: \
{access_key_id, secret_access_key, session_token}}. Use them as AWS_ACCESS_KEY_ID, \
AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN for the commands of this task only, and never echo \
them back to the user. Calling again within the TTL returns the same values. Fails with 409 once \
the grant was released or revoked and with 410 after it expired: request a new grant then."""

GET_CREDENTIALS_RUNTIME_ONLY = """\
Your team keeps AWS credential values out of this conversation: this tool never returns them. \
For an active, unexpired grant it answers {grant_id, expires_at, secret_ref, \
credentials_delivery: "runtime_only", resolve: {...}}, where resolve lists the commands that use \
the secret_ref in your shell: `cloud-broker exec SECRET_REF -- aws s3 ls` (runs one command with \
AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN set for it alone), \
`cloud-broker aws-profile SECRET_REF --profile NAME --write` then `aws --profile NAME ...` (any AWS \
SDK resolves the profile itself), or `cloud-broker exec --server SECRET_REF -- python script.py` \
(SDKs fetch credentials from a local endpoint). Never print, log or copy credential values. Fails \
with 409 once the grant was released or revoked and with 410 after it expired: request a new grant then."""

LIST_ACCOUNTS = """\
Live list of the AWS accounts enrolled for your team: {accounts: [{account_id, display_name, \
description?, default_region?, allowed_regions?}]}. Use it to find the right account_id when \
the list in the other tool descriptions is missing, truncated or stale, or after a "no \
enrolment" error."""


DESCRIPTIONS = {
    Endpoint.DESCRIBE_SCOPE: DESCRIBE_SCOPE, Endpoint.PREVIEW: PREVIEW_REQUEST,
    Endpoint.APPROVAL_CHANNEL: CHECK_APPROVAL_CHANNEL, Endpoint.REQUEST: REQUEST_ACCESS, Endpoint.POLL: POLL_GRANT,
    Endpoint.RELEASE: RELEASE_ACCESS, Endpoint.CREDENTIALS: GET_CREDENTIALS, Endpoint.INVENTORY: LIST_ACCOUNTS,
}


class AccountArgs(ToolArgs):
    account_id: AccountId


class PreviewArgs(ToolArgs):
    account_id: AccountId
    actions: NonEmptyList
    resources: NonEmptyList
    regions: NonEmptyList
    ttl_seconds: TtlSeconds | None = None


class RequestArgs(ToolArgs):
    agent_id: Uuid | None = None
    run_id: Uuid | None = None
    account_id: AccountId
    actions: NonEmptyList
    resources: NonEmptyList
    regions: NonEmptyList
    ttl_seconds: TtlSeconds | None = None
    task_id: TaskId | None = None
    reason: Reason | None = None
    source_context: SourceContext | None = None


ACCOUNT_ID = {
    "type": "string",
    "pattern": ACCOUNT_ID_PATTERN,
    "description": "12-digit AWS account id. Use an id from the enrolled-accounts list; never guess one.",
}
TARGET = {"account_id": ACCOUNT_ID}
SCOPE = {
    "actions": string_list('IAM actions to allow, e.g. ["s3:GetObject", "s3:ListBucket"]. Ask only for what the task '
                           'needs.'),
    "resources": string_list('Resource ARNs (globs allowed), e.g. ["arn:aws:s3:::reports", "arn:aws:s3:::reports/*"].'),
    "regions": string_list('AWS regions the credentials may be used in, e.g. ["us-east-1"].'),
}
TTL = ttl_schema("account")


def _default_region(account: Mapping[str, Any]) -> str | None:
    region = account.get("default_region")
    return region if isinstance(region, str) else None


TOOLS = FamilyTools(
    family="aws",
    target_field="account_id",
    target_noun="AWS account",
    specs=family_specs("aws", DESCRIPTIONS, target=TARGET, scope=SCOPE, ttl=TTL, target_args=AccountArgs,
                       preview_args=PreviewArgs, request_args=RequestArgs),
    inventory_key="accounts",
    inventory_heading=("AWS accounts enrolled for this agent. Pass one of these account_id values exactly; "
                       "never make up or guess an account id:"),
    inventory_extra=_default_region,
    agent_on_grant_routes=True,
    sends_turn_initiator=True,
    runtime_credentials_description=GET_CREDENTIALS_RUNTIME_ONLY,
)
