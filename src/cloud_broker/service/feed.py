"""Grant events, read from the audit trail: one source for every push.

The trail is append-only and written in the same transaction as each state change, so it is
a transactional outbox: an event exists exactly when its change committed. The store commits
audit rows in the order of their positions (SQLite has one writer; on PostgreSQL appends take
a transaction-scoped lock), so a reader that moved past a position never misses a row below it. The SSE stream,
the agent callback and the Slack/webhook updates all read it from a cursor, which makes them
work the same whichever process (server, CLI, sweeper) made the change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cloud_broker.domain.grants import Grant, GrantStatus
from cloud_broker.domain.scope import document
from cloud_broker.errors import NotFound
from cloud_broker.service.deps import Deps
from cloud_broker.service.family import FamilyWords
from cloud_broker.service.ports import AuditEvent

# Audit events that move a grant, and the status each leaves it in.
STATUS_AFTER: dict[str, GrantStatus | None] = {
    "grant.requested": None,  # depends on the decision, see _status_of
    "grant.request_repeated": GrantStatus.PENDING,
    "grant.approval_recorded": GrantStatus.PENDING,
    "grant.approved": GrantStatus.MINTING,
    "grant.minted": GrantStatus.ACTIVE,
    "grant.failed": GrantStatus.FAILED,
    "grant.denied": GrantStatus.DENIED,
    "grant.expired": GrantStatus.EXPIRED,
    "grant.released": GrantStatus.REVOKED,
    "grant.revoked": GrantStatus.REVOKED,
}
# Where a grant's cloud revocation landed: pushed too, with the grant's status as it stands.
CLOUD_EVENTS = frozenset({"grant.cloud_revocation", "grant.cloud_revocation_failed"})
_REQUESTED = {"auto_approve": GrantStatus.MINTING, "route_to_approver": GrantStatus.PENDING,
              "hard_deny": GrantStatus.DENIED}
FEED_BATCH = 200


@dataclass(frozen=True)
class GrantEvent:
    """One state change of one grant; ``grant`` is the grant as it is now (for its fields)."""

    seq: int
    event: str
    at: datetime
    status: GrantStatus
    grant: Grant
    actor: str
    # How the grant's family names its things (the target's field, the tool to call next).
    words: FamilyWords
    reason: str | None = None
    cloud: dict[str, Any] | None = None
    """For a cloud revocation event: ``revoked_in_cloud`` and its detail."""

    @property
    def resolves(self) -> bool:
        """Whether this is an outcome someone waited for (not a step on the way)."""
        return self.status in (GrantStatus.ACTIVE, GrantStatus.DENIED, GrantStatus.FAILED,
                               GrantStatus.EXPIRED, GrantStatus.REVOKED)

    @property
    def waited_for_approval(self) -> bool:
        return self.grant.decision == "route_to_approver"

    def to_json(self) -> dict[str, Any]:
        """The wire form shared by the SSE stream and the agent callback. Never carries a secret."""
        grant = self.grant
        body: dict[str, Any] = {
            "event_id": self.seq,
            "event": self.event,
            "at": _iso(self.at),
            "grant_id": grant.grant_id,
            "uri": f"grant://{grant.grant_id}",
            "status": self.status.value,
            "agent_id": grant.agent_id,
            "run_id": grant.run_id,
            "family": grant.family,
            self.words.target_field: grant.target,
            **document(grant.scope),
            "task_id": grant.task_id,
            "source_context": grant.source_context,
            "message": resolution_message(self),
        }
        if self.status is GrantStatus.ACTIVE and grant.expires_at is not None:
            body["expires_at"] = _iso(grant.expires_at)
        if self.reason and self.status in (GrantStatus.DENIED, GrantStatus.FAILED, GrantStatus.EXPIRED,
                                           GrantStatus.REVOKED):
            body["denial_reason"] = self.reason
        if grant.approvals:
            body["approved_by"] = list(grant.approvals)
        if self.cloud is not None:
            body["revoked_in_cloud"] = self.cloud.get("revoked_in_cloud")
            body["cloud_revocation"] = self.cloud.get("detail")
        return body


class GrantFeed:
    def __init__(self, deps: Deps) -> None:
        self._deps = deps

    def head(self) -> int:
        """The position of the newest row: a new subscriber starts here."""
        with self._deps.store.unit_of_work() as uow:
            return uow.last_audit_seq()

    def after(self, seq: int, *, agent_id: str | None = None, run_id: str | None = None,
              limit: int = FEED_BATCH) -> tuple[list[GrantEvent], int]:
        """Grant events after ``seq`` (of one agent, or one run) and the position to continue from."""
        with self._deps.store.unit_of_work() as uow:
            rows = uow.list_audit_after(seq, agent_id=agent_id, run_id=run_id, limit=limit)
            grants = uow.find_grants({r.grant_id for r in rows if r.grant_id})
        events = [e for e in (self._event(row, grants.get(row.grant_id or "")) for row in rows) if e is not None]
        return events, (rows[-1].seq or seq) if rows else seq

    def _event(self, row: AuditEvent, grant: Grant | None) -> GrantEvent | None:
        if grant is None or row.seq is None or (row.event not in STATUS_AFTER and row.event not in CLOUD_EVENTS):
            return None
        try:
            words = self._deps.family(grant.family).words
        except NotFound:  # a grant of a family this broker no longer serves: nothing to say
            return None
        if row.event in CLOUD_EVENTS:
            cloud = {"revoked_in_cloud": row.detail.get("revoked_in_cloud"), "detail": row.reason}
            return GrantEvent(seq=row.seq, event=row.event, at=row.at, status=grant.status, grant=grant,
                              actor=row.actor, words=words, reason=grant.denial_reason, cloud=cloud)
        status = STATUS_AFTER[row.event] or _REQUESTED.get(row.decision or "", GrantStatus.PENDING)
        return GrantEvent(seq=row.seq, event=row.event, at=row.at, status=status, grant=grant,
                          actor=row.actor, words=words, reason=row.reason or grant.denial_reason)


def resolution_message(event: GrantEvent) -> str:
    """A short text for the agent: what happened, what to do next, and where to reply."""
    grant, words = event.grant, event.words
    actions = next(iter(grant.scope.values()), ())
    what = f"Your request {grant.grant_id} ({', '.join(actions[:5])}{' …' if len(actions) > 5 else ''})"
    if event.cloud is not None:
        return f"{what}, {event.status.value}: {event.cloud.get('detail')}"
    by = f" by {', '.join(grant.approvals)}" if grant.approvals else ""
    text = {
        GrantStatus.ACTIVE: f"{what} was approved{by} and is active; call {words.credentials_tool} to use it.",
        GrantStatus.DENIED: f"{what} was denied: {event.reason or 'no reason given'}. Do not retry it unchanged.",
        GrantStatus.EXPIRED: f"{what} expired: {event.reason or 'its time ran out'}.",
        GrantStatus.REVOKED: f"{what} was revoked: {event.reason or 'released'}.",
        GrantStatus.FAILED: f"{what} failed: {event.reason or 'minting failed'}. File a new request.",
        GrantStatus.PENDING: f"{what} is waiting for approval.",
        GrantStatus.MINTING: f"{what} was approved{by}; credentials are being minted.",
    }[event.status]
    if grant.requested is not None and event.status is GrantStatus.ACTIVE:
        narrowed = ", ".join(key for key in grant.scope if grant.requested.get(key) != list(grant.scope[key]))
        text += f" The approver narrowed it: check {narrowed + ' and ' if narrowed else ''}TTL before use."
    return text + _original_conversation(grant.source_context)


def _original_conversation(context: dict[str, Any] | None) -> str:
    if not context:
        return ""
    where = f"{context.get('channel_type')} {context.get('channel_id')}"
    if context.get("thread_ts"):
        where += f", thread {context['thread_ts']}"
    return f"\nOriginal conversation: {where}"


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")
