"""The interfaces the service needs from its adapters. Concrete adapters are passed in."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from cloud_broker.domain.grants import Grant, GrantStatus
from cloud_broker.vault import SealedSecret


@dataclass(frozen=True)
class AuditEvent:
    """One append-only audit row: who did what to which grant, with which decision and why.

    ``detail`` must never carry a secret; the store does not check, the service makes sure.
    """

    event: str
    actor: str
    at: datetime
    grant_id: str | None = None
    agent_id: str | None = None
    run_id: str | None = None
    team: str | None = None
    decision: str | None = None
    reason: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    # The HTTP request that wrote the row (``service.request_context``); None outside one.
    request_id: str | None = None
    # Assigned by the store; the position of the row in the trail (and in the event feed).
    seq: int | None = None


@dataclass(frozen=True)
class GrantFilter:
    """What the console's history view can narrow by; empty fields match everything."""

    statuses: tuple[GrantStatus, ...] = ()
    team: str | None = None
    # An account, a project, … of any family.
    target: str | None = None
    agent_id: str | None = None
    run_id: str | None = None
    approver: str | None = None
    # (family, team, target) ceilings to keep; None keeps every one. Lets a reviewer's query
    # skip what they may not see in the database, before the limit applies.
    scopes: tuple[tuple[str, str, str], ...] | None = None
    # Oldest first instead of newest first.
    oldest_first: bool = False
    # Every agent's first row (in the order above), then every agent's second, and so on, before
    # the limit applies: one agent's many rows cannot push another agent's past the limit.
    each_agent_in_turn: bool = False
    limit: int = 100


@dataclass(frozen=True)
class ConsoleSession:
    session_hash: str
    approver: str
    csrf_token: str
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class Delivery:
    """One job the broker owes the outside world (a Slack post, a webhook call, an agent push,
    a mint, a revocation in the cloud) and how it went; see ``service.jobs``.

    ``payload`` is what is sent, minus any secret: signatures are computed at send time.
    """

    grant_id: str | None
    event_seq: int
    kind: str
    target: str
    status: str
    attempts: int
    payload: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    response_status: int | None = None
    external_ref: str | None = None
    permalink: str | None = None
    # The page window of one ceiling a row belongs to (see ``notify.page_limit``): the rows that
    # count its individual pages, and its summary messages, share it.
    batch_key: str | None = None
    id: int | None = None


@dataclass(frozen=True)
class OpenPending:
    """Pending grants of one agent still waiting for a decision (not past ``pending_expires_at``)."""

    agent: int
    run: int


@dataclass(frozen=True)
class PendingQueue:
    """One family's grants stored ``pending``: how many, and when the oldest was filed."""

    family: str
    count: int
    oldest_created_at: datetime


class DuplicateRequest(Exception):
    """Another pending grant holds the same request key (two identical requests raced)."""


@dataclass(frozen=True)
class PageReport:
    """How paging the approvers went, as the contract's ``notification_*`` fields say it."""

    status: str  # sent | failed | not_attempted
    failure_reason: str | None = None
    channel_name: str | None = None
    channel_id: str | None = None
    permalink: str | None = None
    bot_user_handle: str | None = None
    operator_alerted: bool | None = None
    # True when the request was not paged on its own but counted into the ceiling's summary
    # message (too many pages in the window); ``permalink`` is then the summary's.
    batched: bool | None = None

    def wire(self) -> dict[str, Any]:
        fields = {
            "notification_status": self.status,
            "notification_failure_reason": self.failure_reason,
            "notification_channel_name": self.channel_name,
            "notification_channel_id": self.channel_id,
            "notification_permalink": self.permalink,
            "notification_bot_user_handle": self.bot_user_handle,
            "notification_operator_alerted": self.operator_alerted,
            "notification_batched": self.batched,
        }
        return {k: v for k, v in fields.items() if v is not None}


NOT_CONFIGURED = PageReport(status="not_attempted", failure_reason="no_approval_channel_configured")


class Pager(Protocol):
    """Pages a grant's approvers. Idempotent per grant: a second call reports the first page
    (or, for a grant counted into a summary, the summary). With ``repost`` false nothing is
    posted, not even a page that failed before: the standing pages are only reported."""

    def page(self, grant: Grant, event_seq: int, *, repost: bool = True) -> PageReport: ...

    def channel_status(self, family: str, team: str, target: str) -> dict[str, Any]:
        """The contract's approval-channel-status reply: ``{ok, channel?, bot_user_handle?, reason?, raw_error?}``."""
        ...


class NoPager:
    """For a broker with no approval channel: says so, truthfully."""

    def page(self, grant: Grant, event_seq: int, *, repost: bool = True) -> PageReport:
        return NOT_CONFIGURED

    def channel_status(self, family: str, team: str, target: str) -> dict[str, Any]:
        return {"ok": False, "reason": "no_approval_channel_configured"}


class SecretRotation(Protocol):
    """The sealed secrets as a whole, by the master key that sealed them: what re-sealing them
    under a new key needs (``cloud-broker keys rotate``). One transaction, as ``UnitOfWork``."""

    def count_secrets_by_key(self) -> dict[str, int]:
        """Stored secrets per key id (key ids with none are absent)."""
        ...

    def list_secrets_not_under(self, key_id: str, *, after: str = "", limit: int = 500) -> list[tuple[str, SealedSecret]]:
        """Up to ``limit`` ``(grant_id, sealed)`` not sealed under ``key_id`` whose grant id sorts
        after ``after``, in grant-id order. Paging by grant id means a row that cannot be re-sealed
        is passed over rather than met again on every page."""
        ...

    def reseal_secret(self, grant_id: str, expected: SealedSecret, sealed: SealedSecret) -> bool:
        """Store ``sealed`` for ``grant_id`` only if its row still holds ``expected`` (key id and
        ciphertext): False when another writer changed or deleted it first (compare-and-swap)."""
        ...

    def append_audit(self, event: AuditEvent) -> int:
        """As ``UnitOfWork.append_audit``: the rotation's trail commits with what it re-sealed."""
        ...


class UnitOfWork(Protocol):
    """One transaction. Writes are visible to others only after the context exits cleanly."""

    def insert_grant(self, grant: Grant) -> None:
        """Raise DuplicateRequest when a pending grant already holds ``grant.request_key``."""
        ...

    def update_grant(self, grant: Grant, *, expected: GrantStatus, revision: int | None = None) -> bool:
        """Write ``grant`` only if the stored status is still ``expected`` (and, when given, the
        stored revision still ``revision``); False if someone else wrote first."""
        ...

    def get_grant(self, grant_id: str) -> Grant:
        """Raise NotFound when missing."""
        ...

    def find_grant(self, grant_id: str) -> Grant | None: ...

    def find_grants(self, grant_ids: Collection[str]) -> dict[str, Grant]:
        """The stored grants among ``grant_ids`` (one query, whatever their number), by id."""
        ...

    def list_grants(self, *, statuses: tuple[GrantStatus, ...] = (), limit: int = 100) -> list[Grant]: ...

    def search_grants(self, where: GrantFilter) -> list[Grant]:
        """Newest first."""
        ...

    def find_pending_duplicate(self, request_key: str) -> Grant | None:
        """The pending grant already filed under ``request_key``, if any."""
        ...

    def repeated_since(self, grant_id: str, since: datetime) -> bool:
        """Whether the trail holds a ``grant.request_repeated`` row of ``grant_id`` after ``since``."""
        ...

    def count_open_pending(self, agent_id: str, run_id: str, now: datetime) -> OpenPending:
        """How many grants of ``agent_id`` (in all, and of them in ``run_id``) are stored
        ``pending`` with a ``pending_expires_at`` after ``now``.

        The count is what a cap is checked against before ``insert_grant`` in the same unit of
        work, so it must still hold when that insert commits: no other unit of work may insert a
        pending grant of this agent in between. The SQLite store begins every unit of work with
        ``BEGIN IMMEDIATE``, which serialises writers; a store without that must lock per agent
        before counting.
        """
        ...

    def count_recent_requests(self, agent_id: str, since: datetime) -> int:
        """Grants the agent filed after ``since`` (any status). Exact only if writers are
        serialised, as for ``count_open_pending``."""
        ...

    def recent_audit_times(self, agent_id: str, event: str, limit: int) -> list[datetime]:
        """When the agent's newest ``limit`` rows of ``event`` were written, newest first."""
        ...

    def pending_queue(self, limit: int) -> list[PendingQueue]:
        """Per family, the grants stored ``pending`` among the ``limit`` that expire first (an
        index read, whatever the size of the table): what the metrics report as the queue."""
        ...

    def list_due_for_expiry(self, now: datetime) -> list[Grant]:
        """Active grants whose ``expires_at`` has passed, and pending ones past ``pending_expires_at``."""
        ...

    def put_secret(self, grant_id: str, sealed: SealedSecret) -> None: ...

    def find_secret(self, grant_id: str) -> SealedSecret | None: ...

    def delete_secret(self, grant_id: str) -> None: ...

    def append_audit(self, event: AuditEvent) -> int:
        """Append a row and return its position."""
        ...

    def list_audit(self, *, grant_id: str | None = None, limit: int = 1000) -> list[AuditEvent]: ...

    def list_audit_after(self, seq: int, *, agent_id: str | None = None, run_id: str | None = None,
                         limit: int = 500) -> list[AuditEvent]:
        """Rows with a position after ``seq``, oldest first: the trail doubles as an event feed."""
        ...

    def last_audit_seq(self) -> int: ...

    def put_console_session(self, session: ConsoleSession) -> None: ...

    def find_console_session(self, session_hash: str) -> ConsoleSession | None: ...

    def delete_console_session(self, session_hash: str) -> None: ...

    def count_sign_in_failures(self, keys: Sequence[str], since: datetime) -> dict[str, int]:
        """Failed sign-ins recorded after ``since``, per key (keys without any are left out)."""
        ...

    def add_sign_in_failures(self, keys: Sequence[str], at: datetime) -> None: ...

    def take_back_sign_in_failure(self, key: str, at: datetime) -> None: ...

    def forget_sign_in_failures(self, key: str) -> None: ...

    def prune_sign_in_failures(self, before: datetime) -> None:
        """Remove (a bounded batch of) failures recorded at or before ``before``."""
        ...

    def insert_delivery(self, delivery: Delivery) -> int | None:
        """The new row's id, or None when that (event, kind, target) was already recorded."""
        ...

    def insert_fresh_delivery(self, delivery: Delivery) -> int:
        """The new row's id, for a delivery of an event appended in this same unit of work, which
        no other row can name yet; a conflict is a bug and fails the unit of work."""
        ...

    def update_delivery(self, delivery: Delivery) -> None: ...

    def claim_delivery(self, delivery_id: int, seen_next_attempt_at: datetime, lease_until: datetime) -> bool:
        """Move a pending delivery's ``next_attempt_at`` from what the caller saw to ``lease_until``;
        False when another process claimed or settled it first (compare-and-swap)."""
        ...

    def due_deliveries(self, now: datetime, limit: int = 50, kinds: tuple[str, ...] | None = None) -> list[Delivery]:
        """Jobs waiting for a (re)try whose time has come, the longest-waiting first; only of
        ``kinds`` when given."""
        ...

    def list_deliveries(self, *, grant_id: str | None = None, batch_key: str | None = None,
                        kinds: tuple[str, ...] = (), limit: int = 200) -> list[Delivery]:
        """Oldest first; each given filter narrows (no filter: every row, up to ``limit``)."""
        ...

    def find_delivery(self, delivery_id: int) -> Delivery | None: ...

    def count_deliveries(self, *, batch_key: str, kind: str) -> int:
        """Rows of ``kind`` in the page window ``batch_key``. Like ``count_open_pending``, a count
        that a following insert in the same unit of work relies on: writers must be serialised."""
        ...

    def read_cursor(self, name: str) -> int | None: ...

    def read_cursors(self, names: Sequence[str]) -> dict[str, int]:
        """Those of ``names`` that exist, in one read."""
        ...

    def move_cursor(self, name: str, expected: int | None, seq: int) -> bool:
        """Move from ``expected`` to ``seq``; False when another process moved it first."""
        ...

    def delete_cursor(self, name: str, expected: int) -> bool:
        """Remove the cursor if it still holds ``expected``; False when another process moved it."""
        ...

    def serialize(self, kind: str, key: str) -> None:
        """Make other units of work that serialise on the same ``kind`` and ``key`` wait until
        this one ends (a count and the insert it allows then act as one)."""
        ...


Touched = frozenset[tuple[str, str]]


@dataclass(frozen=True)
class Moved:
    """The audit trail's head after a wait, and whose rows arrived: (agent id, run id) pairs
    ("" for none), or None when that is unknown (then every stream must look)."""

    head: int
    touched: Touched | None


class AuditWatch(Protocol):
    def wait(self, after: int, timeout: float) -> Moved:
        """As soon as the head exceeds ``after`` (or ``timeout`` seconds have passed): where it is."""
        ...

    def close(self) -> None: ...


class GrantStore(Protocol):
    """Hands out transactions. Both kinds raise ``Unavailable`` when the store cannot serve now
    (unreachable, read-only, full, busy past its timeout); the block's writes are then rolled
    back (or in doubt, when a PostgreSQL connection was lost during the commit itself)."""

    def unit_of_work(self) -> AbstractContextManager[UnitOfWork]:
        """A transaction that may write: commit on clean exit, roll back on exception. A block
        that reads, then writes from what it read (caps, dedupe, expected status), must run in
        one of these: no other writer commits between its read and its write."""
        ...

    def reading(self) -> AbstractContextManager[UnitOfWork]:
        """A transaction that only reads. It does not wait for writers, nor hold them up, and
        it keeps working while the store refuses writes. Any write verb called on it is
        refused. Never decide a write from what it read: re-read inside the ``unit_of_work``
        that writes (or write with an expected status or revision)."""
        ...

    def audit_watch(self) -> AuditWatch:
        """One waiter for new audit rows, written by this process or any other."""
        ...
