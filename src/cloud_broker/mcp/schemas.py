"""Tool inputs: the JSON schemas we advertise and the pydantic models that enforce them.

The two are written side by side on purpose. The advertised schema is what the model reads,
so it is hand-written for clarity (``additionalProperties: false`` steers the model away from
inventing keys); the models are what actually run. At run time unknown keys are dropped rather
than rejected, nested ones included, so nothing the model invents reaches the broker.
A test keeps the two in step (same properties, same required set).

Validation rules (contract §4.1): strings are never coerced from numbers; ``ttl_seconds`` is a
JSON number with no fractional part (``900.0`` passes, ``"900"`` does not); an optional field
may be omitted but not sent as ``null``.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from cloud_broker.domain.grammar import ACCOUNT_ID_PATTERN
from cloud_broker.domain.limits import MAX_REASON_LENGTH
from cloud_broker.wire_types import TTL_MAX, TTL_MIN, AccountId, Text, TtlSeconds, Uuid

NonEmptyList = Annotated[list[Annotated[Text, StringConstraints(min_length=1)]], Field(min_length=1)]


class ToolArgs(BaseModel):
    """Base of every argument model: unknown keys dropped, explicit nulls refused."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _refuse_nulls(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name in cls.model_fields:
                if name in data and data[name] is None:
                    raise PydanticCustomError(
                        "null_value", "{field} must not be null; omit it instead", {"field": name}
                    )
        return data

    def wire(self) -> dict[str, Any]:
        """The fields the caller set, in declaration order, absent ones omitted."""
        return self.model_dump(exclude_none=True)


class SourceContext(ToolArgs):
    channel_type: Annotated[Text, StringConstraints(min_length=1, max_length=64)]
    channel_id: Annotated[Text, StringConstraints(min_length=1, max_length=256)]
    thread_ts: Annotated[Text, StringConstraints(min_length=1, max_length=256)] | None = None


class NoArgs(ToolArgs):
    pass


class AccountArgs(ToolArgs):
    account_id: AccountId


class GrantArgs(ToolArgs):
    grant_id: Uuid


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
    task_id: Annotated[Text, StringConstraints(min_length=1)] | None = None
    reason: Annotated[Text, StringConstraints(min_length=1, max_length=MAX_REASON_LENGTH)] | None = None
    source_context: SourceContext | None = None


# --- advertised JSON schemas -------------------------------------------------------------

DRAFT_07 = "http://json-schema.org/draft-07/schema#"


def _object(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
        "$schema": DRAFT_07,
    }


def _string_list(what: str) -> dict[str, Any]:
    return {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1, "description": what}


ACCOUNT_ID = {
    "type": "string",
    "pattern": ACCOUNT_ID_PATTERN,
    "description": "12-digit AWS account id. Use an id from the enrolled-accounts list; never guess one.",
}
GRANT_ID = {"type": "string", "format": "uuid", "description": "The grant_id returned by aws_request_access."}
TTL = {
    "type": "integer",
    "minimum": TTL_MIN,
    "maximum": TTL_MAX,
    "description": "Lifetime of the credentials in seconds (300-3600). The broker uses 900 when omitted "
    "and may cap it at the account's max_ttl_seconds.",
}
ACTIONS = _string_list(
    'IAM actions to allow, e.g. ["s3:GetObject", "s3:ListBucket"]. Ask only for what the task needs.'
)
RESOURCES = _string_list('Resource ARNs (globs allowed), e.g. ["arn:aws:s3:::reports", "arn:aws:s3:::reports/*"].')
REGIONS = _string_list('AWS regions the credentials may be used in, e.g. ["us-east-1"].')

SOURCE_CONTEXT = {
    "type": "object",
    "description": "Where the request came from, so the approval outcome is announced in that conversation. "
    "Take it from the <channel> tag of the triggering message: Slack -> channel_type 'slack', channel_id = "
    "its channel, thread_ts = its thread_ts; Telegram -> 'telegram' and its chat_id; direct chat -> "
    "'direct-chat' and its session_id. Defaults to AGT_INBOUND_CHANNEL_TYPE/_ID/_THREAD_TS when those are set.",
    "properties": {
        "channel_type": {"type": "string", "minLength": 1, "maxLength": 64},
        "channel_id": {"type": "string", "minLength": 1, "maxLength": 256},
        "thread_ts": {"type": "string", "minLength": 1, "maxLength": 256},
    },
    "required": ["channel_type", "channel_id"],
    "additionalProperties": False,
}

NO_ARGS_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}, "$schema": DRAFT_07}
ACCOUNT_SCHEMA = _object({"account_id": ACCOUNT_ID}, ["account_id"])
GRANT_SCHEMA = _object({"grant_id": GRANT_ID}, ["grant_id"])
PREVIEW_SCHEMA = _object(
    {"account_id": ACCOUNT_ID, "actions": ACTIONS, "resources": RESOURCES, "regions": REGIONS, "ttl_seconds": TTL},
    ["account_id", "actions", "resources", "regions"],
)
REQUEST_SCHEMA = _object(
    {
        "agent_id": {
            "type": "string",
            "format": "uuid",
            "description": "Leave out: defaults to this agent. Set only to credit the grant to another agent.",
        },
        "run_id": {
            "type": "string",
            "format": "uuid",
            "description": "Leave out: defaults to the current run. Set only to credit the grant to another run.",
        },
        "account_id": ACCOUNT_ID,
        "actions": ACTIONS,
        "resources": RESOURCES,
        "regions": REGIONS,
        "ttl_seconds": TTL,
        "task_id": {"type": "string", "minLength": 1, "description": "Optional task reference, e.g. 'kanban:task-42'."},
        "reason": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_REASON_LENGTH,
            "description": "One or two sentences for the human approver: what you will do and why. No secrets.",
        },
        "source_context": SOURCE_CONTEXT,
    },
    ["account_id", "actions", "resources", "regions"],
)
