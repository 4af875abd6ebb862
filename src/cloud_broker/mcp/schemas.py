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

from cloud_broker.domain.limits import MAX_REASON_LENGTH
from cloud_broker.wire_types import TTL_MAX, TTL_MIN, Text, Uuid

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


class GrantArgs(ToolArgs):
    grant_id: Uuid


TaskId = Annotated[Text, StringConstraints(min_length=1)]
Reason = Annotated[Text, StringConstraints(min_length=1, max_length=MAX_REASON_LENGTH)]


# --- advertised JSON schemas -------------------------------------------------------------

DRAFT_07 = "http://json-schema.org/draft-07/schema#"


def object_schema(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
        "$schema": DRAFT_07,
    }


def string_list(what: str) -> dict[str, Any]:
    return {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1, "description": what}


def grant_schema(request_tool: str) -> dict[str, Any]:
    return object_schema({"grant_id": {"type": "string", "format": "uuid",
                                       "description": f"The grant_id returned by {request_tool}."}}, ["grant_id"])


def ttl_schema(target: str) -> dict[str, Any]:
    return {
        "type": "integer",
        "minimum": TTL_MIN,
        "maximum": TTL_MAX,
        "description": "Lifetime of the credentials in seconds (300-3600). The broker uses 900 when omitted "
        f"and may cap it at the {target}'s max_ttl_seconds.",
    }


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

AGENT_ID = {"type": "string", "format": "uuid",
            "description": "Leave out: defaults to this agent. Set only to credit the grant to another agent."}
RUN_ID = {"type": "string", "format": "uuid",
          "description": "Leave out: defaults to the current run. Set only to credit the grant to another run."}
TASK_ID = {"type": "string", "minLength": 1, "description": "Optional task reference, e.g. 'kanban:task-42'."}
REASON = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_REASON_LENGTH,
    "description": "One or two sentences for the human approver: what you will do and why. No secrets.",
}


def request_schema(target: dict[str, Any], scope: dict[str, Any], ttl: dict[str, Any]) -> dict[str, Any]:
    """A request tool's schema: who (agent, run), where (``target``: one property), what
    (``scope``: the family's lists), for how long, and the context every family shares."""
    (target_name,) = target
    properties = {"agent_id": AGENT_ID, "run_id": RUN_ID, **target, **scope, "ttl_seconds": ttl,
                  "task_id": TASK_ID, "reason": REASON, "source_context": SOURCE_CONTEXT}
    return object_schema(properties, [target_name, *scope])


def preview_schema(target: dict[str, Any], scope: dict[str, Any], ttl: dict[str, Any]) -> dict[str, Any]:
    (target_name,) = target
    return object_schema({**target, **scope, "ttl_seconds": ttl}, [target_name, *scope])
