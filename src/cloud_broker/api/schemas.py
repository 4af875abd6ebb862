"""Wire schemas. ``*Body`` models are what may come in; the ``*_public`` functions are the only
way a grant leaves the server, so what may leave is decided in one place."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, WithJsonSchema

from cloud_broker.domain.grammar import REGION_PATTERN
from cloud_broker.domain.grants import Grant, GrantStatus
from cloud_broker.domain.limits import (
    MAX_ACTIONS,
    MAX_REASON_LENGTH,
    MAX_REGIONS,
    MAX_RESOURCE_LENGTH,
    MAX_RESOURCES,
    MAX_TASK_ID_LENGTH,
)
from cloud_broker.domain.requests import DEFAULT_TTL, AwsAccessRequest
from cloud_broker.policy.decision import Decision
from cloud_broker.service.access import GrantAsk
from cloud_broker.vault import format_secret_ref
from cloud_broker.wire_types import (
    ACTION_PATTERN,
    RESOURCE_PATTERN,
    AccountId,
    TtlSeconds,
    Uuid,
)

Action = Annotated[str, StringConstraints(pattern=ACTION_PATTERN)]
# ``\s`` means something else to each regex engine: pydantic validates with Rust's (Unicode
# White_Space), readers of the OpenAPI document apply ECMA-262's. They disagree on U+0085 (the
# document admitted it, the API refused it) and U+FEFF (the other way round). The document spells
# out the set the API enforces; validation (and its message) stays with the shared grammar.
WHITESPACE = r"\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
RESOURCE_DOCUMENTED = {"type": "string", "pattern": RESOURCE_PATTERN.replace(r"\s", WHITESPACE),
                       "maxLength": MAX_RESOURCE_LENGTH}
Resource = Annotated[str, StringConstraints(pattern=RESOURCE_PATTERN, max_length=MAX_RESOURCE_LENGTH),
                     WithJsonSchema(RESOURCE_DOCUMENTED)]
Region = Annotated[str, StringConstraints(pattern=REGION_PATTERN, max_length=32)]


def absent_when_none(kind: Any) -> WithJsonSchema:
    """The schema of ``kind`` alone, for a query or header parameter typed ``kind | None``.

    FastAPI documents such a parameter as ``anyOf: [kind, null]``, but a query string or a
    header cannot carry a JSON null: whoever believes the document sends the text ``null``, which
    is refused. The parameter is optional by being left out, as ``required: false`` says.
    """
    return WithJsonSchema(TypeAdapter(kind).json_schema())


class _Strict(BaseModel):
    # Unknown keys are refused: a misspelt ``ttl_second`` must not silently become the default.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class SourceContext(_Strict):
    channel_type: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    channel_id: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    thread_ts: Annotated[str, StringConstraints(min_length=1, max_length=256)] | None = None


class TurnInitiator(_Strict):
    channel: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    sender_id: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class PreviewBody(_Strict):
    agent_id: Uuid
    account_id: AccountId
    actions: list[Action] = Field(min_length=1, max_length=MAX_ACTIONS)
    resources: list[Resource] = Field(min_length=1, max_length=MAX_RESOURCES)
    regions: list[Region] = Field(min_length=1, max_length=MAX_REGIONS)
    ttl_seconds: TtlSeconds | None = None

    def to_request(self) -> AwsAccessRequest:
        ttl = DEFAULT_TTL if self.ttl_seconds is None else timedelta(seconds=self.ttl_seconds)
        return AwsAccessRequest(
            account_id=self.account_id,
            actions=tuple(dict.fromkeys(self.actions)),
            resources=tuple(dict.fromkeys(self.resources)),
            regions=tuple(dict.fromkeys(self.regions)),
            ttl=ttl,
        )


class GrantCreateBody(PreviewBody):
    run_id: Uuid
    task_id: Annotated[str, StringConstraints(min_length=1, max_length=MAX_TASK_ID_LENGTH)] | None = None
    reason: Annotated[str, StringConstraints(min_length=1, max_length=MAX_REASON_LENGTH)] | None = None
    source_context: SourceContext | None = None
    turn_initiator: TurnInitiator | None = None

    def to_ask(self) -> GrantAsk:
        return GrantAsk(
            run_id=self.run_id,
            request=self.to_request(),
            task_id=self.task_id,
            reason=self.reason,
            source_context=self.source_context.model_dump(exclude_none=True) if self.source_context else None,
            turn_initiator=self.turn_initiator.model_dump() if self.turn_initiator else None,
        )


class HostExchangeBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    host_key: Annotated[str, StringConstraints(min_length=1, max_length=512)]


def timestamp(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def grant_public(grant: Grant, now: datetime) -> dict[str, Any]:
    """What the agent may see of a grant. ``secret_ref`` exists only while it can be resolved."""
    status = grant.status_at(now)
    body: dict[str, Any] = {"grant_id": grant.grant_id, "status": status.value}
    if status is GrantStatus.ACTIVE:
        body["secret_ref"] = format_secret_ref("aws", grant.run_id, grant.grant_id)
    if grant.expires_at is not None and status in (GrantStatus.ACTIVE, GrantStatus.EXPIRED, GrantStatus.REVOKED):
        body["expires_at"] = timestamp(grant.expires_at)
    if grant.denial_reason:
        body["denial_reason"] = grant.denial_reason
    body.update(
        account_id=grant.account_id,
        actions=list(grant.actions),
        resources=list(grant.resources),
        regions=list(grant.regions),
        ttl_seconds=int(grant.ttl.total_seconds()),
    )
    if status is GrantStatus.PENDING and grant.pending_expires_at is not None:
        body["pending_expires_at"] = timestamp(grant.pending_expires_at)
    if grant.requested is not None:
        # The approver narrowed the request: the fields above are what was granted.
        body["requested"] = grant.requested
    if grant.approvals:
        body["approved_by"] = list(grant.approvals)
    return body


def decision_public(decision: Decision) -> dict[str, Any]:
    return {"would": decision.outcome.value, "reason": decision.reason, "explanation": decision.explanation()}
