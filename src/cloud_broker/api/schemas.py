"""Wire schemas every family shares. ``*Body`` models are what may come in; the ``*_public``
functions are the only way a grant leaves the server, so what may leave is decided in one place.
A family's own bodies (its target, its scope lists) extend ``PreviewFields``/``GrantFields``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints, TypeAdapter, WithJsonSchema

from cloud_broker.domain.grants import Grant, GrantStatus
from cloud_broker.domain.limits import MAX_REASON_LENGTH, MAX_TASK_ID_LENGTH
from cloud_broker.domain.requests import AccessRequest
from cloud_broker.domain.scope import document
from cloud_broker.policy.decision import Decision
from cloud_broker.service.access import GrantAsk
from cloud_broker.service.family import FamilyWords
from cloud_broker.vault import format_secret_ref
from cloud_broker.wire_types import TtlSeconds, Uuid


def absent_when_none(kind: Any) -> WithJsonSchema:
    """The schema of ``kind`` alone, for a query or header parameter typed ``kind | None``.

    FastAPI documents such a parameter as ``anyOf: [kind, null]``, but a query string or a
    header cannot carry a JSON null: whoever believes the document sends the text ``null``, which
    is refused. The parameter is optional by being left out, as ``required: false`` says.
    """
    return WithJsonSchema(TypeAdapter(kind).json_schema())


class Strict(BaseModel):
    # Unknown keys are refused: a misspelt ``ttl_second`` must not silently become the default.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class SourceContext(Strict):
    channel_type: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    channel_id: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    thread_ts: Annotated[str, StringConstraints(min_length=1, max_length=256)] | None = None


class TurnInitiator(Strict):
    channel: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    sender_id: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class PreviewFields(Strict):
    """What every preview body carries besides the family's target and scope."""

    agent_id: Uuid
    ttl_seconds: TtlSeconds | None = None

    def to_request(self) -> AccessRequest:
        """The family's body turns its fields into the shared request."""
        raise NotImplementedError


class GrantFields(PreviewFields):
    """What every grant request carries besides the family's target and scope."""

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


def unique(items: list[str]) -> tuple[str, ...]:
    """A list as the request keeps it: each item once, in first-seen order."""
    return tuple(dict.fromkeys(items))


def grant_public(grant: Grant, now: datetime, words: FamilyWords) -> dict[str, Any]:
    """What the agent may see of a grant. ``secret_ref`` exists only while it can be resolved."""
    status = grant.status_at(now)
    body: dict[str, Any] = {"grant_id": grant.grant_id, "status": status.value}
    if status is GrantStatus.ACTIVE:
        body["secret_ref"] = format_secret_ref(grant.family, grant.run_id, grant.grant_id)
    if grant.expires_at is not None and status in (GrantStatus.ACTIVE, GrantStatus.EXPIRED, GrantStatus.REVOKED):
        body["expires_at"] = timestamp(grant.expires_at)
    if grant.denial_reason:
        body["denial_reason"] = grant.denial_reason
    body[words.target_field] = grant.target
    body.update(document(grant.scope))
    body["ttl_seconds"] = int(grant.ttl.total_seconds())
    if status is GrantStatus.PENDING and grant.pending_expires_at is not None:
        body["pending_expires_at"] = timestamp(grant.pending_expires_at)
    if grant.requested is not None:
        # The approver narrowed the request: the fields above are what was granted.
        body["requested"] = grant.requested
    if grant.approvals:
        body["approved_by"] = list(grant.approvals)
    return body


def decision_public(decision: Decision) -> dict[str, Any]:
    return {"would": decision.outcome.value, "reason": decision.reason, **decision.facts,
            "explanation": decision.explanation()}
