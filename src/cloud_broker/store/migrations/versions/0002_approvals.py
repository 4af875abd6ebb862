"""Human approval: approvals on the grant, pending expiry, console sessions, deliveries."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cloud_broker.store.tables import UtcDateTime

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    with op.batch_alter_table("grants") as batch:
        batch.add_column(sa.Column("approvals", sa.JSON, nullable=False, server_default="[]"))
        batch.add_column(sa.Column("requested", sa.JSON))
        batch.add_column(sa.Column("pending_expires_at", UtcDateTime))
        batch.add_column(sa.Column("request_key", sa.String(64)))
        batch.add_column(sa.Column("revision", sa.Integer, nullable=False, server_default="0"))
    # At most one pending grant per request key: two identical requests racing still page once.
    op.create_index(
        "grants_one_pending_per_request",
        "grants",
        ["request_key"],
        unique=True,
        sqlite_where=sa.text("status = 'pending'"),
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index("grants_pending_expiry", "grants", ["status", "pending_expires_at"])
    op.create_table(
        "console_sessions",
        sa.Column("session_hash", sa.String(64), primary_key=True),
        sa.Column("approver", sa.String(256), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("expires_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("grant_id", sa.String(36), index=True),
        sa.Column("event_seq", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("target", sa.String(512), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", UtcDateTime),
        sa.Column("last_error", sa.Text),
        sa.Column("response_status", sa.Integer),
        sa.Column("external_ref", sa.String(256)),
        sa.Column("permalink", sa.Text),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.UniqueConstraint("event_seq", "kind", "target", name="deliveries_once"),
    )
    op.create_table(
        "outbox_cursors",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("seq", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("outbox_cursors")
    op.drop_table("deliveries")
    op.drop_table("console_sessions")
    op.drop_index("grants_pending_expiry", "grants")
    op.drop_index("grants_one_pending_per_request", "grants")
    with op.batch_alter_table("grants") as batch:
        for name in ("revision", "request_key", "pending_expires_at", "requested", "approvals"):
            batch.drop_column(name)
