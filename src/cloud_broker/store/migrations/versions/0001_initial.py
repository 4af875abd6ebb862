"""Grants, sealed credentials and the append-only audit trail."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cloud_broker.store.tables import UtcDateTime

revision = "0001"
down_revision = None

_APPEND_ONLY_SQLITE = """
CREATE TRIGGER audit_events_no_{op} BEFORE {OP} ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END
"""

_APPEND_ONLY_PG = """
CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger AS $$
BEGIN RAISE EXCEPTION 'audit_events is append-only'; END $$ LANGUAGE plpgsql;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
"""


def upgrade() -> None:
    # Written out in full, not taken from tables.py: a migration must not change when the
    # current schema does.
    op.create_table(
        "grants",
        sa.Column("grant_id", sa.String(36), primary_key=True),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("team", sa.String(128), nullable=False),
        sa.Column("host", sa.String(128), nullable=False),
        sa.Column("agent_id", sa.String(36), nullable=False, index=True),
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("account_id", sa.String(32), nullable=False),
        sa.Column("actions", sa.JSON, nullable=False),
        sa.Column("resources", sa.JSON, nullable=False),
        sa.Column("regions", sa.JSON, nullable=False),
        sa.Column("ttl_seconds", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("decision", sa.String(32), nullable=False),
        sa.Column("decision_reason", sa.Text),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.Column("expires_at", UtcDateTime),
        sa.Column("denial_reason", sa.Text),
        sa.Column("task_id", sa.Text),
        sa.Column("reason", sa.Text),
        sa.Column("source_context", sa.JSON),
        sa.Column("turn_initiator", sa.JSON),
        sa.Column("approver", sa.String(256)),
    )
    op.create_table(
        "grant_secrets",
        sa.Column("grant_id", sa.String(36), primary_key=True),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("blob", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "audit_events",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("grant_id", sa.String(36), index=True),
        sa.Column("agent_id", sa.String(36)),
        sa.Column("run_id", sa.String(36)),
        sa.Column("team", sa.String(128)),
        sa.Column("decision", sa.String(32)),
        sa.Column("reason", sa.Text),
        sa.Column("detail", sa.JSON, nullable=False),
    )
    bind = op.get_bind()
    # The audit trail is evidence: the database itself refuses to rewrite it.
    if bind.dialect.name == "sqlite":
        for name in ("update", "delete"):
            op.execute(_APPEND_ONLY_SQLITE.format(op=name, OP=name.upper()))
    elif bind.dialect.name == "postgresql":
        op.execute(_APPEND_ONLY_PG)
