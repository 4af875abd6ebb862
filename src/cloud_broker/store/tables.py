"""The schema, as SQLAlchemy Core tables. Migrations under ``migrations/`` create it."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import fields
from datetime import UTC, datetime
from functools import cache
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """Stores UTC and hands back timezone-aware values, whatever the backend keeps."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()

# A 64-bit counter: BIGINT on PostgreSQL (migration 0008); SQLite's INTEGER already is 64-bit
# (and an INTEGER PRIMARY KEY is the rowid).
COUNTER = BigInteger().with_variant(Integer, "sqlite")

grants = Table(
    "grants",
    metadata,
    Column("grant_id", String(36), primary_key=True),
    # As migration 0006 made them: the family, its target and its scope document.
    Column("family", String(16), nullable=False),
    Column("team", String(128), nullable=False),
    Column("host", String(128), nullable=False),
    Column("agent_id", String(36), nullable=False, index=True),
    Column("run_id", String(36), nullable=False),
    Column("target", String(128), nullable=False),
    Column("scope", JSON, nullable=False),
    Column("ttl_seconds", Integer, nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("decision", String(32), nullable=False),
    Column("decision_reason", Text),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime),
    Column("denial_reason", Text),
    Column("task_id", Text),
    Column("reason", Text),
    Column("source_context", JSON),
    Column("turn_initiator", JSON),
    Column("approver", String(256)),
    Column("approvals", JSON, nullable=False, server_default="[]"),
    Column("requested", JSON),
    Column("pending_expires_at", UtcDateTime),
    Column("request_key", String(64)),
    Column("revision", Integer, nullable=False, server_default="0"),
    # As migration 0002 creates them: one pending grant per request key, and expiry scans.
    Index("grants_one_pending_per_request", "request_key", unique=True,
          sqlite_where=text("status = 'pending'"), postgresql_where=text("status = 'pending'")),
    Index("grants_pending_expiry", "status", "pending_expires_at"),
    # As migration 0005 creates it: one agent's requests of the last minute (the rate limit).
    Index("grants_agent_created", "agent_id", "created_at"),
    # As migration 0004 creates it: an agent's (and a run's) open pending grants, for the caps.
    Index("grants_open_pending", "agent_id", "run_id", "pending_expires_at",
          sqlite_where=text("status = 'pending'"), postgresql_where=text("status = 'pending'")),
)

grant_secrets = Table(
    "grant_secrets",
    metadata,
    Column("grant_id", String(36), primary_key=True),
    Column("key_id", String(64), nullable=False),
    Column("blob", LargeBinary, nullable=False),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("seq", COUNTER, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime, nullable=False),
    Column("event", String(64), nullable=False),
    Column("actor", String(256), nullable=False),
    Column("grant_id", String(36), index=True),
    Column("agent_id", String(36)),
    Column("run_id", String(36)),
    Column("team", String(128)),
    Column("decision", String(32)),
    Column("reason", Text),
    Column("detail", JSON, nullable=False),
    # As migration 0007 adds it: the HTTP request that wrote the row, when one did.
    Column("request_id", String(64)),
    # The event feed reads one agent's, or one run's, rows after a position.
    Index("audit_events_agent_feed", "agent_id", "seq"),
    Index("audit_events_run_feed", "run_id", "seq"),
)


console_sessions = Table(
    "console_sessions",
    metadata,
    # The SHA-256 of the session cookie: a stolen database does not yield live sessions.
    Column("session_hash", String(64), primary_key=True),
    Column("approver", String(256), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("grant_id", String(36), index=True),
    # The audit row that caused it; with kind and target it makes a delivery happen once.
    Column("event_seq", COUNTER, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("target", String(512), nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UtcDateTime),
    Column("last_error", Text),
    Column("response_status", Integer),
    Column("external_ref", String(256)),
    Column("permalink", Text),
    Column("payload", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    # The page window of one ceiling (migration 0004): counts its pages, finds its summaries.
    Column("batch_key", String(160)),
    UniqueConstraint("event_seq", "kind", "target", name="deliveries_once"),
    Index("deliveries_batch", "batch_key", "kind"),
)

outbox_cursors = Table(
    "outbox_cursors",
    metadata,
    Column("name", String(64), primary_key=True),
    # A feed position, or a lease deadline in epoch milliseconds: 64-bit (migration 0008).
    Column("seq", COUNTER, nullable=False),
)

# Failed console sign-ins within the throttle's window (migration 0009), shared by every process.
sign_in_failures = Table(
    "sign_in_failures",
    metadata,
    Column("id", COUNTER, primary_key=True, autoincrement=True),
    # "pair:<name> <address>", "name:<name>" or "address:<address or /64>"
    Column("key", String(320), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Index("sign_in_failures_key", "key", "at"),
    Index("sign_in_failures_at", "at"),
)


def row_of(instance: Any) -> dict[str, Any]:
    """A dataclass's fields as a row, values as they are. ``dataclasses.asdict`` deep-copies
    every nested dict and tuple first: on the grant path that copying cost more than the
    statements themselves, and rows are only read to be written."""
    return {name: getattr(instance, name) for name in _field_names(cast(Hashable, type(instance)))}


@cache
def _field_names(kind: Any) -> tuple[str, ...]:
    return tuple(f.name for f in fields(kind))


def json_list(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value or ())
